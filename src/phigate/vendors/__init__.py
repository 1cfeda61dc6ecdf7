"""Third-party risk: vendor registry, evidence, assessments, posture, incidents, access reviews."""
