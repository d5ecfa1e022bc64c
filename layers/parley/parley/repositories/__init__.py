"""Data layer: one repository per table or queue, the only code that speaks boto3."""
