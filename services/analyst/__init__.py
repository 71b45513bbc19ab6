"""Analytics API: analyst SQL, cost reports, risk alerts, person profiles."""
