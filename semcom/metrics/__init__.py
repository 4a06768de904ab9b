"""Image quality metrics (registry ``METRICS``): functional forms and modules."""
