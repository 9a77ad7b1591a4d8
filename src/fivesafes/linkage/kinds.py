"""The kinds of linkage token (``tokens`` makes them, ``match`` and the hub's linkage unit
compare them): a module of names only, so that what matches tokens never imports what makes
them (the linkage secret's reader)."""

KINDS = ("nhs_dob", "names_dob", "family_dob_postcode", "given_dob_postcode",
         "initial_family_dob_sex")  # fmt: skip
PRIMARY = "nhs_dob"
SECONDARY = tuple(k for k in KINDS if k != PRIMARY)
