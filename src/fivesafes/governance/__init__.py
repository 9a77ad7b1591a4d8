"""Safe people and safe projects: roles, who is acting, projects and their versions, risk
tiers; permissions (who may act) and policies (what the current state allows).

The modules at this level are pure: no database, no clock, no I/O. ``accounts/`` holds the
account store the hub and every node share (tables, passwords, TOTP, sessions).
"""
