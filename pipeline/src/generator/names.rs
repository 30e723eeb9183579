//! Word lists for realistic East African names and references.

/// Given names.
pub(super) const FIRST: &[&str] = &[
    "Jane", "John", "Mary", "Peter", "Grace", "James", "Faith", "David", "Mercy", "Joseph",
    "Esther", "Daniel", "Ann", "Samuel", "Lucy", "Brian", "Joyce", "Kevin", "Caroline", "Dennis",
    "Nancy", "Collins", "Agnes", "Victor", "Ruth", "Moses", "Irene", "Eric", "Sarah", "Paul",
    "Winnie", "George", "Diana", "Stephen", "Purity", "Felix", "Beatrice", "Allan", "Janet", "Isaac",
    "Brenda", "Patrick", "Sharon", "Martin", "Doreen", "Charles", "Gloria", "Emmanuel", "Naomi", "Ronald",
    "Fatuma", "Hassan", "Amina", "Omar", "Zawadi", "Baraka", "Akinyi", "Otieno", "Wanjiku", "Kiprono",
];

/// Family names.
pub(super) const LAST: &[&str] = &[
    "Mwangi", "Otieno", "Kamau", "Wanjiru", "Ochieng", "Njoroge", "Mutua", "Kariuki", "Omondi", "Kipchoge",
    "Wambui", "Odhiambo", "Chebet", "Kimani", "Achieng", "Mutiso", "Nyambura", "Korir", "Onyango", "Wafula",
    "Muthoni", "Kiptoo", "Atieno", "Macharia", "Jepkosgei", "Gitau", "Awino", "Langat", "Nduta", "Barasa",
    "Okello", "Nakato", "Mugisha", "Namubiru", "Ssempala", "Kato", "Nansubuga", "Tumusiime", "Byaruhanga", "Akello",
    "Ali", "Said", "Mohamed", "Abdi", "Juma", "Mwakilema", "Ndege", "Sang", "Rotich", "Kosgei",
];

/// What unknown payers type as a reference.
pub(super) const JUNK_REFERENCES: &[&str] = &[
    "RENT", "HOUSE 5", "FEES", "SHOP", "PAYMENT", "CHAMA", "LOAN", "TOKEN", "WATER", "SCHOOL", "NA", "1",
];
