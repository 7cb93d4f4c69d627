//! Column names as words: split snake_case, camelCase, kebab-case and digits; lower-case; expand
//! common abbreviations (qty → quantity, dob → date of birth…). Used for name embeddings and
//! lexical similarity.

/// Abbreviations common in column names, and what they stand for.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("acct", "account"),
    ("addr", "address"),
    ("amt", "amount"),
    ("avg", "average"),
    ("bal", "balance"),
    ("cat", "category"),
    ("cnt", "count"),
    ("cd", "code"),
    ("cust", "customer"),
    ("desc", "description"),
    ("dept", "department"),
    ("dob", "date of birth"),
    ("dt", "date"),
    ("emp", "employee"),
    ("fname", "first name"),
    ("lname", "last name"),
    ("id", "id"),
    ("info", "information"),
    ("lat", "latitude"),
    ("lng", "longitude"),
    ("lon", "longitude"),
    ("max", "maximum"),
    ("min", "minimum"),
    ("mgr", "manager"),
    ("msg", "message"),
    ("nbr", "number"),
    ("no", "number"),
    ("num", "number"),
    ("org", "organization"),
    ("pct", "percent"),
    ("ph", "phone"),
    ("qty", "quantity"),
    ("ref", "reference"),
    ("sku", "stock keeping unit"),
    ("ssn", "social security number"),
    ("st", "state"),
    ("tel", "telephone"),
    ("ts", "timestamp"),
    ("txn", "transaction"),
    ("uid", "user id"),
    ("yr", "year"),
    ("zip", "zip code"),
];

/// Split a name into lower-case words.
pub fn split_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if let Some(&prev) = cur.chars().last().as_ref() {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = (prev.is_lowercase() && c.is_uppercase())
                || (prev.is_uppercase() && c.is_uppercase() && next_lower)
                || (prev.is_alphabetic() && c.is_ascii_digit())
                || (prev.is_ascii_digit() && c.is_alphabetic());
            if boundary {
                words.push(std::mem::take(&mut cur));
            }
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words.into_iter().map(|w| w.to_lowercase()).collect()
}

/// The name as plain words with abbreviations expanded: `custDOB` → `customer date of birth`.
pub fn normalize(name: &str) -> String {
    let mut words = split_words(name);
    // "E-mail", "e_mail" → "email".
    while let Some(i) = words.windows(2).position(|w| w[0] == "e" && w[1] == "mail") {
        words.splice(i..i + 2, ["email".to_string()]);
    }
    words
        .iter()
        .map(|w| ABBREVIATIONS.iter().find(|(a, _)| a == w).map(|(_, full)| full.to_string()).unwrap_or_else(|| w.clone()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text embedded for a column: its normalised name, then its comment if it has one.
pub fn embedding_text(name: &str, comment: Option<&str>) -> String {
    match comment.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => format!("{}: {}", normalize(name), c),
        None => normalize(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_common_styles() {
        assert_eq!(split_words("customer_email"), vec!["customer", "email"]);
        assert_eq!(split_words("customerEmail"), vec!["customer", "email"]);
        assert_eq!(split_words("HTTPServerURL"), vec!["http", "server", "url"]);
        assert_eq!(split_words("addr-line2"), vec!["addr", "line", "2"]);
        assert_eq!(split_words("E-mail"), vec!["e", "mail"]);
        assert_eq!(split_words("  "), Vec::<String>::new());
        assert_eq!(split_words("Größe_m²"), vec!["größe", "m²"]);
    }

    #[test]
    fn expands_abbreviations() {
        assert_eq!(normalize("cust_DOB"), "customer date of birth");
        assert_eq!(normalize("order_qty"), "order quantity");
        assert_eq!(normalize("tumor_size_cm"), "tumor size cm");
        assert_eq!(normalize("zip"), "zip code");
        assert_eq!(normalize("E-mail"), "email");
        assert_eq!(normalize("customer_e_mail"), "customer email");
    }

    #[test]
    fn embedding_text_adds_comment() {
        assert_eq!(embedding_text("amt", Some(" in USD ")), "amount: in USD");
        assert_eq!(embedding_text("amt", Some("")), "amount");
        assert_eq!(embedding_text("amt", None), "amount");
    }
}
