"""Pure flow compilation: from topology and live services to OpenFlow rules.

Nothing here imports Ryu; `apps/` translates these values into messages.
"""
