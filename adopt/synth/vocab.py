"""Words and tables the synthetic world is written from.

Product subcategories grouped in top-level categories, each with its own nouns
(disjoint across subcategories, so a text reveals its subcategory), adjectives
and benefits; fictional brands per top-level category (shared by its
subcategories, so a brand alone does not reveal the subcategory); offers that
raise a creative's latent quality; demographic affinities that tie interests
to age band, gender and city tier. `adopt.synth.entities` draws from these.
"""

from __future__ import annotations

import numpy as np

# top-level category -> subcategories
CATEGORIES: dict[str, tuple[str, ...]] = {
    "sports": ("running", "yoga", "cycling"),
    "home": ("kitchenware", "bedding", "furniture"),
    "electronics": ("phones", "audio", "computers"),
    "beauty": ("skincare", "makeup", "haircare"),
    "toys": ("building_toys", "dolls", "board_games"),
    "pets": ("dog_supplies", "cat_supplies", "aquarium"),
    "books": ("fiction", "cookbooks", "childrens_books"),
    "fashion": ("dresses", "menswear", "watches"),
}

# subcategory -> (nouns, adjectives, benefits, median price)
VOCAB: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], float]] = {
    "running": (
        ("running shoes", "trail runners", "marathon socks", "running shorts", "hydration vest",
         "gps sports band"),
        ("lightweight", "breathable", "cushioned"),
        ("built for long runs", "grip on wet trails", "beat your personal best"), 90.0),
    "yoga": (
        ("yoga mat", "yoga blocks", "meditation cushion", "yoga leggings", "stretch strap",
         "pilates ring"),
        ("non-slip", "eco-friendly", "extra thick"),
        ("find your balance", "supports every pose", "calm mind and strong body"), 40.0),
    "cycling": (
        ("road bike", "bike helmet", "cycling jersey", "bike lights", "pedal clips",
         "saddle bag"),
        ("aerodynamic", "carbon", "reflective"),
        ("ride further with less effort", "safe on night rides", "made for the climb"), 150.0),
    "kitchenware": (
        ("chef knife", "frying pan", "dutch oven", "cutting board", "espresso maker",
         "mixing bowls"),
        ("non-stick", "cast iron", "stainless"),
        ("cook like a pro", "dishwasher safe", "even heat every time"), 45.0),
    "bedding": (
        ("duvet cover", "memory foam pillow", "cotton sheets", "weighted blanket",
         "mattress topper", "quilt set"),
        ("soft", "organic", "hypoallergenic"),
        ("sleep deeper tonight", "cool all night", "hotel comfort at home"), 70.0),
    "furniture": (
        ("bookshelf", "office chair", "coffee table", "sofa bed", "bar stools",
         "wardrobe"),
        ("solid oak", "modular", "ergonomic"),
        ("easy to assemble", "built to last", "fits small spaces"), 220.0),
    "phones": (
        ("smartphone", "phone case", "screen protector", "wireless charger", "phone tripod",
         "power bank"),
        ("unlocked", "5g", "shockproof"),
        ("all-day battery", "stunning camera", "charges in minutes"), 350.0),
    "audio": (
        ("wireless earbuds", "noise cancelling headphones", "bluetooth speaker",
         "soundbar", "turntable", "studio microphone"),
        ("hi-fi", "waterproof", "bass-boosted"),
        ("immersive sound", "30 hours of playback", "crystal clear calls"), 120.0),
    "computers": (
        ("laptop", "mechanical keyboard", "gaming mouse", "4k monitor", "usb-c hub",
         "external ssd"),
        ("ultra-thin", "high-performance", "backlit"),
        ("work from anywhere", "lightning fast", "play without lag"), 600.0),
    "skincare": (
        ("face serum", "moisturizer", "sunscreen", "cleansing balm", "eye cream",
         "sheet masks"),
        ("hydrating", "fragrance-free", "vitamin c"),
        ("glowing skin in a week", "gentle on sensitive skin", "dermatologist tested"), 30.0),
    "makeup": (
        ("lipstick", "mascara", "foundation", "eyeshadow palette", "makeup brushes",
         "setting spray"),
        ("long-lasting", "matte", "cruelty-free"),
        ("flawless all day", "bold color in one swipe", "smudge-proof finish"), 25.0),
    "haircare": (
        ("shampoo", "hair dryer", "hair mask", "curling iron", "argan oil",
         "detangling brush"),
        ("sulfate-free", "ionic", "nourishing"),
        ("salon results at home", "frizz-free for 72 hours", "repairs damaged hair"), 35.0),
    "building_toys": (
        ("building bricks", "construction set", "marble run", "magnetic tiles",
         "robot kit", "train set"),
        ("creative", "stem", "1000-piece"),
        ("hours of creative play", "learn while building", "compatible with all sets"), 50.0),
    "dolls": (
        ("fashion doll", "dollhouse", "plush bear", "baby doll", "puppet theater",
         "doll stroller"),
        ("huggable", "handmade", "collectible"),
        ("a friend for every adventure", "safe for toddlers", "endless pretend play"), 30.0),
    "board_games": (
        ("board game", "card game", "jigsaw puzzle", "chess set", "party game",
         "dice tower"),
        ("strategy", "cooperative", "family"),
        ("game night made easy", "fun for all ages", "new every time you play"), 35.0),
    "dog_supplies": (
        ("dog bed", "dog leash", "chew toy", "dog harness", "puppy treats",
         "grooming glove"),
        ("durable", "orthopedic", "grain-free"),
        ("happy tails guaranteed", "vet recommended", "tough enough for big chewers"), 35.0),
    "cat_supplies": (
        ("cat tree", "litter box", "scratching post", "cat tunnel", "catnip mice",
         "cat fountain"),
        ("self-cleaning", "odor-control", "sisal"),
        ("purr-fect for indoor cats", "keeps claws off the sofa", "easy to clean"), 40.0),
    "aquarium": (
        ("fish tank", "aquarium filter", "led aquarium light", "aquarium gravel",
         "fish food", "water conditioner"),
        ("freshwater", "silent", "planted"),
        ("crystal clear water", "healthy happy fish", "set up in minutes"), 60.0),
    "fiction": (
        ("mystery novel", "fantasy saga", "thriller", "romance novel", "science fiction epic",
         "short stories"),
        ("bestselling", "award-winning", "gripping"),
        ("impossible to put down", "the twist you never saw coming", "now in paperback"),
        15.0),
    "cookbooks": (
        ("baking cookbook", "vegan recipes", "grilling guide", "pasta cookbook",
         "meal prep book", "spice handbook"),
        ("illustrated", "chef-approved", "quick"),
        ("dinner in 30 minutes", "over 100 recipes", "step-by-step photos"), 25.0),
    "childrens_books": (
        ("picture book", "bedtime stories", "activity book", "first reader",
         "pop-up book", "fairy tale collection"),
        ("colorful", "read-aloud", "interactive"),
        ("loved by little readers", "perfect for bedtime", "builds early reading"), 12.0),
    "dresses": (
        ("summer dress", "evening gown", "wrap dress", "maxi skirt", "silk blouse",
         "linen jumpsuit"),
        ("floral", "elegant", "flowy"),
        ("turn heads all season", "effortless style", "flattering fit"), 60.0),
    "menswear": (
        ("denim jacket", "chino pants", "oxford shirt", "wool sweater", "leather belt",
         "bomber jacket"),
        ("slim-fit", "tailored", "rugged"),
        ("sharp from desk to dinner", "wrinkle-free", "classic made modern"), 55.0),
    "watches": (
        ("chronograph watch", "smart watch", "dive watch", "watch strap", "pocket watch",
         "dress watch"),
        ("swiss", "automatic", "sapphire"),
        ("precision on your wrist", "water resistant to 100m", "a gift for a lifetime"),
        180.0),
}

# fictional brands per top-level category
BRANDS: dict[str, tuple[str, ...]] = {
    "sports": ("Stridex", "Peakform", "Velora", "Motiv"),
    "home": ("Hearthly", "Nestwell", "Oakline", "Cucina Bella"),
    "electronics": ("Voltaq", "Sonique", "Nexel", "Pixelon"),
    "beauty": ("Lumea", "Verdance", "Glowry", "Silkor"),
    "toys": ("Brickle", "Playnest", "Tumbletoy", "Wizzo"),
    "pets": ("Pawsome", "Furrend", "Tailwise", "Aquavita"),
    "books": ("Inkwell Press", "Lantern Books", "Pagewise", "Northstar"),
    "fashion": ("Maison Rue", "Threadly", "Corvo", "Ardent"),
}

# offer text -> latent quality bonus (click logit); the visible part of quality
OFFERS: tuple[tuple[str, float], ...] = (
    ("Free shipping on every order.", 0.25),
    ("20% off this week only.", 0.35),
    ("Buy one, get one half price.", 0.3),
    ("Limited time offer.", 0.1),
    ("New arrival.", 0.05),
)
GENERIC_ADJECTIVES = ("premium", "classic", "everyday", "best-selling", "new")
QUERY_TEMPLATES = ("{noun}", "best {noun}", "{adj} {noun}", "cheap {noun}", "{noun} sale",
                   "{brand} {noun}")

AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_SHARES = (0.18, 0.30, 0.24, 0.16, 0.12)
GENDERS = ("f", "m", "x")
GENDER_SHARES = (0.50, 0.47, 0.03)
CITY_TIERS = ("1", "2", "3")
CITY_TIER_SHARES = (0.35, 0.40, 0.25)

TOP_CATEGORIES: tuple[str, ...] = tuple(CATEGORIES)
SUBCATEGORIES: tuple[str, ...] = tuple(s for subs in CATEGORIES.values() for s in subs)

# log-affinity of each demographic level to each top-level category (order of TOP_CATEGORIES:
# sports, home, electronics, beauty, toys, pets, books, fashion)
AGE_AFFINITY = np.array([
    [0.6, -0.8, 0.7, 0.5, -0.6, -0.2, -0.3, 0.7],   # 18-24
    [0.5, 0.0, 0.5, 0.3, 0.3, 0.2, -0.1, 0.4],     # 25-34
    [0.1, 0.5, 0.2, 0.1, 0.8, 0.3, 0.1, 0.0],      # 35-44
    [-0.2, 0.6, 0.0, 0.0, 0.2, 0.3, 0.4, -0.1],    # 45-54
    [-0.6, 0.6, -0.4, -0.2, 0.1, 0.4, 0.8, -0.4],  # 55+
])
GENDER_AFFINITY = np.array([
    [-0.1, 0.3, -0.5, 0.9, 0.2, 0.1, 0.3, 0.6],    # f
    [0.4, -0.1, 0.7, -0.9, 0.0, 0.0, -0.1, -0.2],  # m
    [0.1, 0.1, 0.1, 0.1, 0.0, 0.1, 0.3, 0.2],      # x
])
TIER_AFFINITY = np.array([
    [0.2, 0.0, 0.3, 0.2, 0.0, 0.0, 0.1, 0.3],      # tier 1
    [0.0, 0.1, 0.0, 0.0, 0.1, 0.1, 0.0, 0.0],      # tier 2
    [-0.2, 0.2, -0.2, -0.2, 0.2, 0.2, -0.1, -0.3],  # tier 3
])


def subcategory_parent() -> np.ndarray:
    """Index of the top-level category of each subcategory (order of SUBCATEGORIES)."""
    parent = {s: i for i, subs in enumerate(CATEGORIES.values()) for s in subs}
    return np.array([parent[s] for s in SUBCATEGORIES])


def noun_to_subcategory() -> dict[str, str]:
    """Map every noun to the one subcategory that uses it (nouns are disjoint)."""
    return {noun: sub for sub, (nouns, _, _, _) in VOCAB.items() for noun in nouns}
