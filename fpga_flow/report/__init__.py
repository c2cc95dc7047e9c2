"""Step 'report': what was built, in numbers (md/json)."""
