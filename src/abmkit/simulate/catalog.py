"""Vocabulary of the simulated market: industries, places, technologies, topics, titles, names.

Shares and ranges are documented with their sources in docs/simulator.md.
"""

from __future__ import annotations

# Industry, share of companies, revenue per employee (USD, median), fit for the seller (0..1).
INDUSTRIES: list[tuple[str, float, float, float]] = [
    ("Technology", 0.17, 250_000, 0.9),
    ("Financial Services", 0.10, 400_000, 0.8),
    ("Healthcare", 0.11, 180_000, 0.6),
    ("Manufacturing", 0.13, 300_000, 0.5),
    ("Retail", 0.10, 220_000, 0.5),
    ("Education", 0.05, 120_000, 0.3),
    ("Media", 0.04, 260_000, 0.6),
    ("Telecommunications", 0.03, 450_000, 0.7),
    ("Energy", 0.03, 700_000, 0.4),
    ("Transportation", 0.05, 240_000, 0.4),
    ("Consulting", 0.07, 200_000, 0.6),
    ("Insurance", 0.04, 450_000, 0.7),
    ("Construction", 0.05, 280_000, 0.2),
    ("Hospitality", 0.03, 90_000, 0.2),
]

# Country, share, legal suffixes, top-level domain, (city, state, metro) triples.
COUNTRIES: list[tuple[str, float, list[str], str, list[tuple[str, str, str]]]] = [
    (
        "United States",
        0.55,
        ["Inc", "LLC", "Corp", "Inc", "Co"],
        "com",
        [
            ("New York", "NY", "new york city area"),
            ("San Francisco", "CA", "san francisco bay area"),
            ("Boston", "MA", "greater boston area"),
            ("Chicago", "IL", "greater chicago area"),
            ("Austin", "TX", "austin texas area"),
            ("Seattle", "WA", "greater seattle area"),
            ("Atlanta", "GA", "greater atlanta area"),
            ("Denver", "CO", "greater denver area"),
            ("Los Angeles", "CA", "greater los angeles area"),
            ("Dallas", "TX", "dallas/fort worth area"),
            ("Columbus", "OH", "columbus ohio area"),
            ("Raleigh", "NC", "raleigh-durham area"),
        ],
    ),
    (
        "United Kingdom",
        0.09,
        ["Ltd", "PLC", "Ltd"],
        "co.uk",
        [
            ("London", "", "london united kingdom"),
            ("Manchester", "", "manchester united kingdom"),
            ("Edinburgh", "", "edinburgh united kingdom"),
        ],
    ),
    (
        "Germany",
        0.07,
        ["GmbH", "AG", "GmbH"],
        "de",
        [
            ("Berlin", "BE", "berlin area germany"),
            ("Munich", "BY", "munich area germany"),
            ("Hamburg", "HH", "hamburg area germany"),
        ],
    ),
    (
        "France",
        0.05,
        ["SAS", "SA"],
        "fr",
        [
            ("Paris", "", "paris area france"),
            ("Lyon", "", "lyon area france"),
        ],
    ),
    (
        "Canada",
        0.06,
        ["Inc", "Ltd", "Corp"],
        "ca",
        [
            ("Toronto", "ON", "toronto canada area"),
            ("Vancouver", "BC", "vancouver canada area"),
            ("Montreal", "QC", "montreal canada area"),
        ],
    ),
    (
        "Australia",
        0.05,
        ["Pty Ltd"],
        "com.au",
        [
            ("Sydney", "NSW", "sydney australia"),
            ("Melbourne", "VIC", "melbourne australia"),
        ],
    ),
    (
        "India",
        0.05,
        ["Pvt Ltd", "Ltd"],
        "in",
        [
            ("Bengaluru", "KA", "bengaluru area india"),
            ("Mumbai", "MH", "mumbai area india"),
        ],
    ),
    ("Netherlands", 0.03, ["BV", "NV"], "nl", [("Amsterdam", "", "amsterdam area netherlands")]),
    ("Singapore", 0.02, ["Pte Ltd"], "sg", [("Singapore", "", "singapore")]),
    ("Sweden", 0.03, ["AB"], "se", [("Stockholm", "", "stockholm sweden")]),
]

# Technology, base prevalence, boost by log10(employees).
TECHNOLOGIES: list[tuple[str, float, float]] = [
    ("Salesforce", 0.25, 0.10),
    ("HubSpot", 0.25, -0.05),
    ("AWS", 0.40, 0.05),
    ("Azure", 0.20, 0.08),
    ("Google Cloud", 0.15, 0.03),
    ("Snowflake", 0.08, 0.06),
    ("Databricks", 0.05, 0.05),
    ("BigQuery", 0.06, 0.02),
    ("Tableau", 0.10, 0.05),
    ("Power BI", 0.15, 0.05),
    ("Looker", 0.05, 0.02),
    ("dbt", 0.04, 0.03),
    ("Marketo", 0.06, 0.05),
    ("Segment", 0.05, 0.01),
    ("Workday", 0.05, 0.08),
    ("SAP", 0.06, 0.10),
    ("Oracle", 0.08, 0.08),
    ("Zendesk", 0.12, 0.00),
    ("Shopify", 0.06, -0.03),
    ("Okta", 0.08, 0.06),
]
SELLER_AFFINE_TECH = ("Snowflake", "Databricks", "BigQuery", "dbt", "Segment", "AWS")

FUNDING_STAGES = [
    "Bootstrapped",
    "Seed",
    "Series A",
    "Series B",
    "Series C",
    "Series D+",
    "Private Equity",
    "Public",
]

SEGMENTS = ["SMB", "Mid-Market", "Enterprise"]
MID_MARKET_EMPLOYEES = 200
ENTERPRISE_EMPLOYEES = 1000

# Bombora-style topic taxonomy: category -> topics; the seller sells a customer-data/analytics
# platform, so the first 10 topics (RELEVANT_TOPICS) are the ones its buyers research.
TOPIC_CATEGORIES: dict[str, list[str]] = {
    "data management": [
        "data warehousing",
        "data integration",
        "customer data platform",
        "master data management",
        "data governance",
    ],
    "analytics & reporting": [
        "business intelligence",
        "predictive analytics",
        "marketing analytics",
        "data visualization",
        "workforce analytics",
    ],
    "marketing": [
        "account based marketing",
        "marketing automation",
        "intent data",
        "email marketing",
        "content marketing",
    ],
    "crm": [
        "sales force automation",
        "customer experience",
        "email management software",
        "lead management",
        "contact center",
    ],
    "security": [
        "cloud security",
        "identity management",
        "endpoint security",
        "data loss prevention",
        "zero trust",
    ],
    "cloud computing": [
        "cloud migration",
        "kubernetes",
        "serverless",
        "multicloud",
        "infrastructure as code",
    ],
    "business finance": [
        "business loans",
        "accounts payable",
        "expense management",
        "equipment and vehicle financing",
        "tax software",
    ],
    "human resources": [
        "recruiting software",
        "employee engagement",
        "payroll",
        "benefits administration",
        "workers' compensation",
    ],
}
RELEVANT_TOPICS = [
    "data warehousing",
    "data integration",
    "customer data platform",
    "data governance",
    "business intelligence",
    "predictive analytics",
    "marketing analytics",
    "account based marketing",
    "intent data",
    "marketing automation",
]

BOMBORA_SIZES = [
    (10, "Micro (1 - 9 Employees)"),
    (50, "Small (10 - 49 Employees)"),
    (200, "Medium-Small (50 - 199 Employees)"),
    (500, "Medium (200 - 499 Employees)"),
    (1000, "Medium-Large (500 - 999 Employees)"),
    (5000, "Large (1,000 - 4,999 Employees)"),
    (10000, "XLarge (5,000 - 10,000 Employees)"),
    (10**12, "XXLarge (10,000+ Employees)"),
]

# Company-name parts: <root><tail> [<industry word>] <legal suffix>.
NAME_ROOTS = [
    "Acme", "Apex", "Arc", "Aster", "Atlas", "Aurora", "Axis", "Beacon", "Birch", "Blue", "Bolt",
    "Bright", "Cedar", "Cinder", "Clear", "Cobalt", "Coral", "Crest", "Crown", "Delta", "Drift",
    "Echo", "Ember", "Evergreen", "Falcon", "Fern", "Flint", "Forge", "Fox", "Granite", "Harbor",
    "Hawk", "Helix", "Horizon", "Indigo", "Iron", "Juniper", "Keystone", "Kite", "Lark", "Lumen",
    "Lynx", "Maple", "Meridian", "Mesa", "Nimbus", "Noble", "North", "Nova", "Oak", "Onyx",
    "Orbit", "Pine", "Pioneer", "Prism", "Quartz", "Quill", "Radiant", "Raven", "Redwood", "Ridge",
    "River", "Sable", "Sage", "Silver", "Sky", "Solar", "Spruce", "Star", "Stone", "Summit",
    "Swift", "Terra", "Tidal", "Timber", "Triton", "True", "Umber", "Vale", "Vantage", "Vector",
    "Verde", "Vertex", "Violet", "Vista", "Wave", "Willow", "Zen", "Zenith", "Alder", "Brook",
    "Canyon", "Dune", "Glacier", "Grove", "Haven", "Isle", "Jade", "Lake", "Moss", "Peak", "Reef",
    "Shore", "Stream", "Thistle"
]
NAME_TAILS = [
    "",
    "",
    "",
    "ly",
    "io",
    "ify",
    "wise",
    "works",
    "labs",
    "point",
    "line",
    "stack",
    "gate",
    "bridge",
    "field",
    "logic",
    "ware",
    "mark",
    "sys",
    "nova",
    "tek",
    "base",
    "path",
    "scale",
    "cloud",
    "grid",
    "loop",
    "hub",
    "core",
    "shift",
]
INDUSTRY_WORDS: dict[str, list[str]] = {
    "Technology": ["Software", "Technologies", "Systems", "Digital", "Data"],
    "Financial Services": ["Capital", "Financial", "Partners", "Bank", "Payments"],
    "Healthcare": ["Health", "Medical", "Care", "Bio", "Therapeutics"],
    "Manufacturing": ["Manufacturing", "Industries", "Components", "Machines", "Materials"],
    "Retail": ["Retail", "Stores", "Brands", "Goods", "Outfitters"],
    "Education": ["Learning", "Academy", "Education", "Schools", "Institute"],
    "Media": ["Media", "Studios", "Publishing", "Network", "Entertainment"],
    "Telecommunications": ["Telecom", "Networks", "Communications", "Wireless", "Connect"],
    "Energy": ["Energy", "Power", "Resources", "Renewables", "Utilities"],
    "Transportation": ["Logistics", "Freight", "Transport", "Mobility", "Shipping"],
    "Consulting": ["Consulting", "Advisors", "Group", "Associates", "Partners"],
    "Insurance": ["Insurance", "Assurance", "Underwriters", "Mutual", "Risk"],
    "Construction": ["Construction", "Builders", "Engineering", "Contractors", "Homes"],
    "Hospitality": ["Hotels", "Hospitality", "Resorts", "Dining", "Travel"],
}
DEDUPE_WORDS = [
    "Global",
    "Group",
    "Labs",
    "Solutions",
    "Holdings",
    "International",
    "One",
    "Works",
    "Partners",
    "Hq",
]

FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Sandra",
    "Steven", "Ashley", "Andrew", "Emily", "Joshua", "Michelle", "Kevin", "Amanda", "Brian",
    "Melissa", "George", "Stephanie", "Priya", "Rahul", "Ananya", "Arjun", "Wei", "Mei", "Hiroshi",
    "Yuki", "Lukas", "Anna", "Felix", "Lena", "Jonas", "Sophie", "Pierre", "Camille", "Louis",
    "Chloe", "Mohammed", "Fatima", "Omar", "Aisha", "Carlos", "Maria", "Diego", "Lucia", "Olivia",
    "Liam", "Noah", "Emma", "Ava", "Ethan", "Mia", "Lucas", "Isla", "Oliver", "Amelia", "Jack",
    "Grace", "Harry", "Freya", "Chen", "Li", "Sanjay", "Deepa", "Ingrid", "Erik", "Astrid", "Lars",
    "Sven", "Elin", "Jan", "Femke", "Daan", "Sanne", "Raj", "Neha", "Tomas", "Elena", "Marco",
    "Giulia"
]
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera",
    "Campbell", "Mitchell", "Carter", "Roberts", "Patel", "Shah", "Kumar", "Singh", "Gupta",
    "Wang", "Zhang", "Liu", "Chen", "Tanaka", "Sato", "Mueller", "Schmidt", "Schneider", "Fischer",
    "Weber", "Dubois", "Laurent", "Bernard", "Moreau", "Khan", "Ali", "Hassan", "Silva", "Santos",
    "Costa", "Murphy", "Kelly", "OBrien", "Walsh", "Byrne", "Johansson", "Andersson", "Larsson",
    "Nilsson", "DeVries", "Jansen", "Bakker", "Visser", "Rossi", "Russo", "Ferrari", "Novak",
    "Kowalski"
]
FREE_MAIL = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com"]

# Buying-committee roles in the order they are filled (position i of an account's committee).
COMMITTEE_ROLES = [
    "economic_buyer",
    "champion",
    "technical_evaluator",
    "end_user",
    "blocker_procurement",
    "blocker_security",
    "end_user",
    "technical_evaluator",
    "blocker_legal",
    "champion",
]
# Role -> (department, candidate titles).
ROLE_TITLES: dict[str, tuple[str, list[str]]] = {
    "economic_buyer": (
        "Executive",
        ["CFO", "Chief Marketing Officer", "CIO", "Chief Data Officer", "COO", "SVP, Finance"],
    ),
    "champion": (
        "Marketing",
        [
            "VP of Marketing",
            "Director of Marketing Operations",
            "Head of Growth",
            "Director, Demand Generation",
            "VP, Revenue Operations",
        ],
    ),
    "technical_evaluator": (
        "IT",
        [
            "Senior Data Engineer",
            "Solutions Architect",
            "Director of Data Engineering",
            "IT Manager",
            "Analytics Engineering Lead",
        ],
    ),
    "end_user": (
        "Marketing",
        [
            "Marketing Operations Manager",
            "Senior Marketing Analyst",
            "Campaign Manager",
            "Data Analyst",
            "Sales Operations Analyst",
        ],
    ),
    "blocker_procurement": (
        "Procurement",
        ["Procurement Manager", "Strategic Sourcing Lead", "Vendor Manager"],
    ),
    "blocker_security": ("IT", ["Director, IT Security", "CISO", "Security Engineer"]),
    "blocker_legal": ("Legal", ["Legal Counsel", "General Counsel", "Contracts Manager"]),
    "other": (
        "Operations",
        [
            "Operations Manager",
            "HR Business Partner",
            "Account Executive",
            "Customer Success Manager",
            "Software Engineer",
            "Office Manager",
            "Product Manager",
            "Recruiter",
            "Controller",
            "Sales Director",
        ],
    ),
}
OTHER_DEPARTMENTS = [
    "Operations",
    "Human Resources",
    "Sales",
    "Customer Success",
    "Engineering",
    "Operations",
    "Product",
    "Human Resources",
    "Finance",
    "Sales",
]
