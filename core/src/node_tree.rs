//! PostgreSQL's `pg_node_tree` text (`nodeToString` output, as in `pg_rewrite.ev_action`) read
//! into a tree, and the column lineage of a view from it: for each output column, the table
//! columns its value is computed from (through joins, subqueries, aggregates and expressions).

use std::collections::BTreeSet;

/// A node of the tree: `{TYPE :field value …}`, a list `(…)`, or a bare token.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Struct { tag: String, fields: Vec<(String, Node)> },
    List(Vec<Node>),
    Token(String),
    Null,
}

impl Node {
    pub fn field(&self, name: &str) -> Option<&Node> {
        match self {
            Node::Struct { fields, .. } => fields.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn tag(&self) -> Option<&str> {
        match self {
            Node::Struct { tag, .. } => Some(tag),
            _ => None,
        }
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        match self.field(name)? {
            Node::Token(t) => t.parse().ok(),
            _ => None,
        }
    }

    pub fn text(&self, name: &str) -> Option<String> {
        match self.field(name)? {
            Node::Token(t) => Some(t.clone()),
            _ => None,
        }
    }

    pub fn list(&self, name: &str) -> &[Node] {
        match self.field(name) {
            Some(Node::List(v)) => v,
            _ => &[],
        }
    }
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

#[derive(Debug, PartialEq)]
enum Tok {
    Open(u8),
    Close(u8),
    Field(String),
    Word(String),
}

impl Lexer<'_> {
    fn next(&mut self) -> Option<Tok> {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
        let c = *self.s.get(self.i)?;
        match c {
            b'{' | b'(' | b'[' => {
                self.i += 1;
                Some(Tok::Open(c))
            }
            b'}' | b')' | b']' => {
                self.i += 1;
                Some(Tok::Close(c))
            }
            b'"' => {
                // A quoted string (used for names in lists such as colnames).
                self.i += 1;
                let mut out = Vec::new();
                while self.i < self.s.len() && self.s[self.i] != b'"' {
                    if self.s[self.i] == b'\\' && self.i + 1 < self.s.len() {
                        self.i += 1;
                    }
                    out.push(self.s[self.i]);
                    self.i += 1;
                }
                self.i += 1;
                Some(Tok::Word(String::from_utf8_lossy(&out).into_owned()))
            }
            _ => {
                let field = c == b':';
                if field {
                    self.i += 1;
                }
                let mut out = Vec::new();
                while self.i < self.s.len() {
                    let d = self.s[self.i];
                    if d == b'\\' && self.i + 1 < self.s.len() {
                        out.push(self.s[self.i + 1]);
                        self.i += 2;
                        continue;
                    }
                    if d.is_ascii_whitespace() || matches!(d, b'{' | b'}' | b'(' | b')' | b'[' | b']') {
                        break;
                    }
                    out.push(d);
                    self.i += 1;
                }
                let w = String::from_utf8_lossy(&out).into_owned();
                Some(if field { Tok::Field(w) } else { Tok::Word(w) })
            }
        }
    }
}

fn parse_value(lx: &mut Lexer, first: Tok) -> Result<Node, String> {
    match first {
        Tok::Open(b'{') => {
            let tag = match lx.next() {
                Some(Tok::Word(w)) => w,
                t => return Err(format!("node tag expected, got {t:?}")),
            };
            let mut fields = Vec::new();
            loop {
                match lx.next() {
                    Some(Tok::Close(b'}')) => break,
                    Some(Tok::Field(name)) => {
                        let save = lx.i;
                        match lx.next() {
                            // A field without a value (followed directly by the next field).
                            Some(Tok::Field(_)) | Some(Tok::Close(b'}')) => {
                                lx.i = save;
                                fields.push((name, Node::Null));
                            }
                            Some(t) => fields.push((name, parse_value(lx, t)?)),
                            None => return Err("unexpected end in a node".into()),
                        }
                    }
                    // A Const's datum follows its length as a bracketed byte list: skip it.
                    Some(Tok::Open(b'[')) => {
                        parse_value(lx, Tok::Open(b'['))?;
                    }
                    t => return Err(format!("field expected, got {t:?}")),
                }
            }
            Ok(Node::Struct { tag, fields })
        }
        Tok::Open(open) => {
            let close = if open == b'(' { b')' } else { b']' };
            let mut items = Vec::new();
            loop {
                match lx.next() {
                    Some(Tok::Close(c)) if c == close => break,
                    Some(t) => items.push(parse_value(lx, t)?),
                    None => return Err("unexpected end in a list".into()),
                }
            }
            Ok(Node::List(items))
        }
        Tok::Word(w) if w == "<>" => Ok(Node::Null),
        Tok::Word(w) => Ok(Node::Token(w)),
        t => Err(format!("unexpected {t:?}")),
    }
}

/// Parses one `pg_node_tree` text.
pub fn parse(text: &str) -> Result<Node, String> {
    let mut lx = Lexer { s: text.as_bytes(), i: 0 };
    let first = lx.next().ok_or("empty node tree")?;
    parse_value(&mut lx, first)
}

/// A table column: the relation's OID and the column's number.
pub type ColumnRef = (u32, i16);

/// Lineage of each output column of a query (a view's `_RETURN` rule action): (output column
/// name, the table columns it is computed from). Columns of `itself` (the view: its rule's OLD
/// and NEW entries) are left out.
pub fn query_lineage(query: &Node, itself: u32) -> Vec<(String, BTreeSet<ColumnRef>)> {
    query
        .list("targetList")
        .iter()
        .filter(|te| te.text("resjunk").as_deref() != Some("true"))
        .map(|te| {
            let mut out = BTreeSet::new();
            if let Some(expr) = te.field("expr") {
                vars_of(expr, &[query], &mut out);
            }
            out.retain(|(r, _)| *r != itself);
            (te.text("resname").unwrap_or_default(), out)
        })
        .collect()
}

/// Every table column referenced in a query (targets, joins, filters, grouping), but `itself`'s.
pub fn query_inputs(query: &Node, itself: u32) -> BTreeSet<ColumnRef> {
    let mut out = BTreeSet::new();
    vars_of(query, &[query], &mut out);
    out.retain(|(r, _)| *r != itself);
    out
}

/// Collects the table columns the Vars under `node` stand for. `scopes` are the enclosing
/// queries, innermost last (a Var's `varlevelsup` counts outwards).
fn vars_of(node: &Node, scopes: &[&Node], out: &mut BTreeSet<ColumnRef>) {
    match node {
        Node::Struct { tag, fields } if tag == "VAR" => {
            let up = node.int("varlevelsup").unwrap_or(0) as usize;
            if up < scopes.len() {
                let scope = &scopes[..scopes.len() - up];
                resolve_var(node.int("varno").unwrap_or(0), node.int("varattno").unwrap_or(0), scope, out);
            }
            let _ = fields;
        }
        Node::Struct { tag, fields } if tag == "QUERY" => {
            let mut inner: Vec<&Node> = scopes.to_vec();
            if !std::ptr::eq(*scopes.last().unwrap_or(&node), node) {
                inner.push(node);
            }
            for (name, v) in fields {
                // The range table is visited through the Vars that use it.
                if name != "rtable" {
                    vars_of(v, &inner, out);
                }
            }
        }
        Node::Struct { fields, .. } => fields.iter().for_each(|(_, v)| vars_of(v, scopes, out)),
        Node::List(items) => items.iter().for_each(|v| vars_of(v, scopes, out)),
        _ => {}
    }
}

fn resolve_var(varno: i64, attno: i64, scopes: &[&Node], out: &mut BTreeSet<ColumnRef>) {
    let Some(query) = scopes.last() else { return };
    let Some(rte) = (varno >= 1).then(|| query.list("rtable").get(varno as usize - 1)).flatten() else { return };
    match rte.int("rtekind") {
        // A relation: the column itself (a whole-row Var, attno 0, stands for every column).
        Some(0) => {
            let relid = rte.int("relid").unwrap_or(0) as u32;
            if attno > 0 {
                out.insert((relid, attno as i16));
            } else if attno == 0 {
                let n = rte.field("eref").map(|e| e.list("colnames").len()).unwrap_or(0);
                (1..=n).for_each(|a| {
                    out.insert((relid, a as i16));
                });
            }
        }
        // A subquery: the Vars of its output column.
        Some(1) => {
            if let Some(sub) = rte.field("subquery") {
                let targets: Vec<&Node> = sub.list("targetList").iter().filter(|te| te.text("resjunk").as_deref() != Some("true")).collect();
                let mut inner: Vec<&Node> = scopes.to_vec();
                inner.push(sub);
                let chosen: Vec<&Node> = if attno > 0 { targets.get(attno as usize - 1).into_iter().copied().collect() } else { targets };
                for te in chosen {
                    if let Some(e) = te.field("expr") {
                        vars_of(e, &inner, out);
                    }
                }
            }
        }
        // A join: its alias Vars.
        Some(2) => {
            let aliases = rte.list("joinaliasvars");
            let chosen: Vec<&Node> = if attno > 0 { aliases.get(attno as usize - 1).into_iter().collect() } else { aliases.iter().collect() };
            chosen.into_iter().for_each(|v| vars_of(v, scopes, out));
        }
        // A CTE: its query's output column.
        Some(6) => {
            let name = rte.text("ctename").unwrap_or_default();
            let up = rte.int("ctelevelsup").unwrap_or(0) as usize;
            if up < scopes.len() {
                let owner = scopes[scopes.len() - 1 - up];
                if let Some(cte) = owner.list("cteList").iter().find(|c| c.text("ctename").as_deref() == Some(name.as_str())) {
                    if let Some(q) = cte.field("ctequery") {
                        let targets: Vec<&Node> = q.list("targetList").iter().filter(|te| te.text("resjunk").as_deref() != Some("true")).collect();
                        let mut inner: Vec<&Node> = scopes[..scopes.len() - up].to_vec();
                        inner.push(q);
                        let chosen: Vec<&Node> = if attno > 0 { targets.get(attno as usize - 1).into_iter().copied().collect() } else { targets };
                        for te in chosen {
                            if let Some(e) = te.field("expr") {
                                vars_of(e, &inner, out);
                            }
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shapes as PostgreSQL 15 writes them (trimmed to the fields that matter).
    const VIEW: &str = r#"({QUERY :commandType 1 :hasAggs true :cteList <> :rtable ({RANGETBLENTRY :alias {ALIAS :aliasname old :colnames <>} :eref {ALIAS :aliasname old :colnames ("day" "total")} :rtekind 0 :relid 900 :relkind v} {RANGETBLENTRY :alias {ALIAS :aliasname new :colnames <>} :eref {ALIAS :aliasname new :colnames ("day" "total")} :rtekind 0 :relid 900 :relkind v} {RANGETBLENTRY :alias {ALIAS :aliasname o :colnames <>} :eref {ALIAS :aliasname o :colnames ("id" "ordered" "amount" "cust")} :rtekind 0 :relid 100 :relkind r} {RANGETBLENTRY :alias {ALIAS :aliasname c :colnames <>} :eref {ALIAS :aliasname c :colnames ("id" "tier\ name")} :rtekind 0 :relid 200 :relkind r} {RANGETBLENTRY :alias <> :eref {ALIAS :aliasname unnamed_join :colnames ("id" "ordered" "amount" "cust" "id" "tier\ name")} :rtekind 2 :jointype 0 :joinaliasvars ({VAR :varno 3 :varattno 1 :varlevelsup 0} {VAR :varno 3 :varattno 2 :varlevelsup 0} {VAR :varno 3 :varattno 3 :varlevelsup 0} {VAR :varno 3 :varattno 4 :varlevelsup 0} {VAR :varno 4 :varattno 1 :varlevelsup 0} {VAR :varno 4 :varattno 2 :varlevelsup 0})}) :jointree {FROMEXPR :fromlist ({JOINEXPR :jointype 0 :larg {RANGETBLREF :rtindex 3} :rarg {RANGETBLREF :rtindex 4} :quals {OPEXPR :opno 410 :args ({VAR :varno 3 :varattno 4 :varlevelsup 0} {VAR :varno 4 :varattno 1 :varlevelsup 0})} :rtindex 5}) :quals <>} :targetList ({TARGETENTRY :expr {VAR :varno 3 :varattno 2 :varlevelsup 0 :location 7} :resno 1 :resname day :resorigtbl 100 :resorigcol 2 :resjunk false} {TARGETENTRY :expr {AGGREF :aggfnoid 2114 :args ({TARGETENTRY :expr {FUNCEXPR :funcid 1 :args ({VAR :varno 3 :varattno 3 :varlevelsup 0} {CONST :consttype 23 :constlen 4 :constbyval true :constisnull false :location 30 :constvalue 4 [ 2 0 0 0 0 0 0 0 ]})} :resno 1 :resname <> :resjunk false}) :aggfilter <>} :resno 2 :resname total\ amount :resjunk false} {TARGETENTRY :expr {VAR :varno 4 :varattno 2 :varlevelsup 0} :resno 3 :resname tier :resjunk false} {TARGETENTRY :expr {VAR :varno 3 :varattno 1 :varlevelsup 0} :resno 4 :resname <> :resjunk true}) :groupClause <>})"#;

    #[test]
    fn parses_nodes() {
        let n = parse(VIEW).unwrap();
        let Node::List(qs) = &n else { panic!("a list") };
        assert_eq!(qs[0].tag(), Some("QUERY"));
        assert_eq!(qs[0].list("rtable").len(), 5);
        assert_eq!(qs[0].list("targetList")[1].text("resname").as_deref(), Some("total amount"));
        assert!(parse("{A :x 1").is_err());
        assert_eq!(parse("<>").unwrap(), Node::Null);
    }

    #[test]
    fn view_lineage_per_column() {
        let n = parse(VIEW).unwrap();
        let Node::List(qs) = &n else { panic!() };
        let l = query_lineage(&qs[0], 900);
        assert_eq!(l.len(), 3, "the junk column is left out");
        assert_eq!(l[0], ("day".to_string(), BTreeSet::from([(100, 2)])));
        assert_eq!(l[1], ("total amount".to_string(), BTreeSet::from([(100, 3)])));
        assert_eq!(l[2], ("tier".to_string(), BTreeSet::from([(200, 2)])));
        // Inputs include the join condition's columns; the view's own OLD/NEW entries are not inputs.
        let inputs = query_inputs(&qs[0], 900);
        assert!(inputs.contains(&(100, 4)) && inputs.contains(&(200, 1)));
        assert!(!inputs.iter().any(|(r, _)| *r == 900));
    }

    #[test]
    fn subqueries_and_joins_resolve_to_tables() {
        let q = r#"{QUERY :rtable ({RANGETBLENTRY :alias {ALIAS :aliasname s :colnames <>} :eref {ALIAS :aliasname s :colnames ("x")} :rtekind 1 :subquery {QUERY :rtable ({RANGETBLENTRY :alias <> :eref {ALIAS :aliasname t :colnames ("a" "b")} :rtekind 0 :relid 300}) :targetList ({TARGETENTRY :expr {OPEXPR :args ({VAR :varno 1 :varattno 1 :varlevelsup 0} {VAR :varno 1 :varattno 2 :varlevelsup 0})} :resno 1 :resname x :resjunk false})}}) :targetList ({TARGETENTRY :expr {VAR :varno 1 :varattno 1 :varlevelsup 0} :resno 1 :resname y :resjunk false})}"#;
        let n = parse(q).unwrap();
        assert_eq!(query_lineage(&n, 0), vec![("y".to_string(), BTreeSet::from([(300, 1), (300, 2)]))]);
    }
}
