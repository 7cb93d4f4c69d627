//! libpq connection strings (`host=… dbname=…`) and URIs (`postgresql://user:pw@host:port/db?…`),
//! split into the options of a postgres_fdw foreign server and of its user mapping. The password
//! goes to the user mapping only; [`redact`] gives a form that is safe to store and print.

#[derive(Debug, Default, Clone, PartialEq)]
pub struct FdwOptions {
    /// Options for `CREATE SERVER … OPTIONS (…)`: host, port, dbname, sslmode…
    pub server: Vec<(String, String)>,
    /// Options for `CREATE USER MAPPING … OPTIONS (…)`: user, password.
    pub user_mapping: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConninfoError {
    #[error("unterminated quoted value in connection string")]
    UnterminatedQuote,
    #[error("missing \"=\" after \"{0}\" in connection string")]
    MissingEquals(String),
    #[error("invalid percent-encoding in connection URI")]
    BadPercent,
    #[error("connection option \"{0}\" is not accepted by postgres_fdw")]
    Unsupported(String),
}

const USER_MAPPING_KEYS: [&str; 2] = ["user", "password"];
/// libpq options postgres_fdw accepts on a server (plus its own fetch_size etc. via options).
const SERVER_KEYS: [&str; 17] = [
    "host",
    "hostaddr",
    "port",
    "dbname",
    "connect_timeout",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "application_name",
    "keepalives",
    "keepalives_idle",
    "options",
    "target_session_attrs",
    "gssencmode",
    "channel_binding",
];

/// Does `s` look like a connection string rather than a file path?
pub fn is_conninfo(s: &str) -> bool {
    let t = s.trim_start();
    t.starts_with("postgres://") || t.starts_with("postgresql://") || (t.contains('=') && !t.starts_with('/'))
}

fn percent_decode(s: &str) -> Result<String, ConninfoError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or(ConninfoError::BadPercent)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ConninfoError::BadPercent)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ConninfoError::BadPercent)
}

fn parse_uri(uri: &str) -> Result<Vec<(String, String)>, ConninfoError> {
    let rest = uri.split_once("://").map(|x| x.1).unwrap_or(uri);
    let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = main.split_once('/').unwrap_or((main, ""));
    let mut pairs = Vec::new();
    let hostport = match authority.rsplit_once('@') {
        Some((userinfo, hp)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            if !user.is_empty() {
                pairs.push(("user".into(), percent_decode(user)?));
            }
            if !password.is_empty() {
                pairs.push(("password".into(), percent_decode(password)?));
            }
            hp
        }
        None => authority,
    };
    if !hostport.is_empty() {
        let (host, port) = if hostport.starts_with('[') {
            // [ipv6]:port
            let end = hostport.find(']').unwrap_or(hostport.len() - 1);
            (&hostport[1..end], hostport[end + 1..].strip_prefix(':').unwrap_or(""))
        } else {
            hostport.rsplit_once(':').unwrap_or((hostport, ""))
        };
        if !host.is_empty() {
            pairs.push(("host".into(), percent_decode(host)?));
        }
        if !port.is_empty() {
            pairs.push(("port".into(), port.to_string()));
        }
    }
    if !path.is_empty() {
        pairs.push(("dbname".into(), percent_decode(path)?));
    }
    for kv in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').ok_or_else(|| ConninfoError::MissingEquals(kv.into()))?;
        pairs.push((percent_decode(k)?, percent_decode(v)?));
    }
    Ok(pairs)
}

fn parse_keywords(s: &str) -> Result<Vec<(String, String)>, ConninfoError> {
    let mut pairs = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(ConninfoError::MissingEquals(key));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(ConninfoError::UnterminatedQuote),
                    Some('\\') => value.push(chars.next().ok_or(ConninfoError::UnterminatedQuote)?),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                if c == '\\' {
                    chars.next();
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                    continue;
                }
                value.push(c);
                chars.next();
            }
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Parse a connection string or URI into postgres_fdw options.
pub fn parse(conninfo: &str) -> Result<FdwOptions, ConninfoError> {
    let t = conninfo.trim();
    let pairs = if t.starts_with("postgres://") || t.starts_with("postgresql://") { parse_uri(t)? } else { parse_keywords(t)? };
    let mut out = FdwOptions::default();
    for (k, v) in pairs {
        if USER_MAPPING_KEYS.contains(&k.as_str()) {
            out.user_mapping.push((k, v));
        } else if SERVER_KEYS.contains(&k.as_str()) {
            out.server.push((k, v));
        } else {
            return Err(ConninfoError::Unsupported(k));
        }
    }
    Ok(out)
}

/// The connection string with any password replaced by `********`, safe to store and print.
pub fn redact(conninfo: &str) -> String {
    match parse(conninfo) {
        Ok(opts) => {
            let mut parts: Vec<String> = opts.server.iter().map(|(k, v)| format!("{k}={}", quote_value(v))).collect();
            for (k, v) in &opts.user_mapping {
                let shown = if k == "password" { "********".to_string() } else { quote_value(v) };
                parts.push(format!("{k}={shown}"));
            }
            parts.join(" ")
        }
        // Unparseable: show nothing that could be a secret.
        Err(_) => "(unparseable connection string)".to_string(),
    }
}

fn quote_value(v: &str) -> String {
    if !v.is_empty() && !v.chars().any(|c| c.is_whitespace() || c == '\'' || c == '\\') {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn uri_full() {
        let o = parse("postgresql://bob:s%40cret@db.example:5433/crm?sslmode=require").unwrap();
        assert_eq!(o.server, kv(&[("host", "db.example"), ("port", "5433"), ("dbname", "crm"), ("sslmode", "require")]));
        assert_eq!(o.user_mapping, kv(&[("user", "bob"), ("password", "s@cret")]));
    }

    #[test]
    fn uri_socket_dir_in_query() {
        let o = parse("postgres:///crm?host=/var/run/pg&port=5439").unwrap();
        assert_eq!(o.server, kv(&[("dbname", "crm"), ("host", "/var/run/pg"), ("port", "5439")]));
    }

    #[test]
    fn keywords_with_quotes() {
        let o = parse("host=localhost port=5432 dbname='my db' user=u password='it\\'s'").unwrap();
        assert_eq!(o.server, kv(&[("host", "localhost"), ("port", "5432"), ("dbname", "my db")]));
        assert_eq!(o.user_mapping, kv(&[("user", "u"), ("password", "it's")]));
    }

    #[test]
    fn errors() {
        assert_eq!(parse("host='x"), Err(ConninfoError::UnterminatedQuote));
        assert!(matches!(parse("host"), Err(ConninfoError::MissingEquals(_))));
        assert!(matches!(parse("host=x evil=1"), Err(ConninfoError::Unsupported(_))));
        assert_eq!(parse("postgres://h/db%zz"), Err(ConninfoError::BadPercent));
    }

    #[test]
    fn redaction_hides_password() {
        let r = redact("postgresql://bob:topsecret@h:1/d");
        assert!(!r.contains("topsecret"));
        assert!(r.contains("password=********"));
        assert!(!redact("host='x password=topsecret").contains("topsecret"));
    }

    #[test]
    fn detection() {
        assert!(is_conninfo("postgresql://h/d"));
        assert!(is_conninfo("host=h dbname=d"));
        assert!(!is_conninfo("/data/file.csv"));
        assert!(!is_conninfo("/data/a=b.csv"));
    }
}
