"""abmkit: an open-source, warehouse-native engine for account-based marketing.

from abmkit import Abm
with Abm.open("my-workspace") as abm:
    abm.ingest("accounts", [Path("accounts.csv")], preset="salesforce")
"""

__version__ = "0.1.0"

from abmkit.app import Abm  # noqa: E402

__all__ = ["Abm", "__version__"]
