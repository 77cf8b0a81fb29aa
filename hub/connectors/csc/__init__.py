"""Children's social care: the national returns (SSDA903, CIN census, Ofsted Annex A)."""
