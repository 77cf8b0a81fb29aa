"""HL7 v2 connector: ADT and SIU messages over MLLP, with original-mode acknowledgements."""
