"""The node's portal: its custodians' and TRE admins' pages (the approvals queue, the audit
explorer with the chain's verification, the patient data account), served by a process of its
own (``fivesafes node portal``) on loopback or a TRE-internal address, never by the agent.

People sign in against the node's own accounts (ADR 0015) through the shared
``fivesafes.web.signin``; each page checks ``governance.permissions`` before anything else,
and every decision goes through the same action code as the command line (``node.setup``).
"""
