"""Response shaping: minimisation, masking, de-identification, JWE."""
