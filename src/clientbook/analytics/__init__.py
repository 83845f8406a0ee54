"""Finding the ideal customers: feature tables, scores and models.

The engines in :mod:`clientbook.analytics.engines` are plain Python over data
frames and Ibis tables and need no Django; a thin service layer stores their
results on customers.
"""
