"""The mart refresh: raw tables -> classified `measurement.performance` and `measurement.daily_sales`."""
