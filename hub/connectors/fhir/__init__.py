"""FHIR R4 (UK Core) resources and Bundles -> case-events, as pure translations."""
