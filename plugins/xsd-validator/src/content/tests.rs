use super::*;
use crate::schema::{Content, Schema, Type};

/// A schema whose root element `r` has `model` as its content model, in
/// no namespace.
fn schema(model: &str) -> Schema {
    Schema::compile(&format!(
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
             <xs:element name="r"><xs:complexType>{model}</xs:complexType></xs:element>
           </xs:schema>"#
    ))
    .unwrap()
}

fn root(schema: &Schema) -> &Particle {
    let id = schema.global(None, "r").unwrap();
    match &schema.types[schema.element(id).ty] {
        Type::Complex(c) => match &c.content {
            Content::Elements(p) => p,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

/// Feeds the children; each refused one is reported as `!name`, each one
/// taken after passing over missing ones as `name(-missing)`, and the end
/// as `end` or `missing ...`.
fn run(schema: &Schema, children: &str) -> Vec<String> {
    let mut m = Matcher::new(schema, root(schema), &mut Pool::default());
    let mut out = Vec::new();
    for child in children.split_whitespace() {
        match m.step(None, child) {
            Ok(step) if step.skipped.is_empty() => {}
            Ok(step) => out.push(format!("{child}(-{})", step.skipped.join(","))),
            Err(Refusal::TooMany { max }) => out.push(format!("!{child}>{max}")),
            Err(Refusal::Unexpected { expected }) => {
                out.push(format!("!{child}[{}]", expected.join(",")))
            }
        }
    }
    out.push(match m.finish() {
        Ok(()) => "end".into(),
        Err(Missing::OneOf(names)) => format!("missing {}", names.join(",")),
        Err(Missing::TooFew { name, min, found }) => format!("{found} {name} < {min}"),
    });
    out
}

const ORDER: &str = r#"<xs:sequence>
    <xs:element name="date"/>
    <xs:element name="stamp" minOccurs="0"/>
    <xs:choice><xs:element name="pickup"/><xs:element name="ship"/></xs:choice>
    <xs:element name="item" minOccurs="2" maxOccurs="3"/>
  </xs:sequence>"#;

#[test]
fn sequences_choices_and_counts() {
    let s = schema(ORDER);
    assert_eq!(run(&s, "date pickup item item"), ["end"]);
    assert_eq!(run(&s, "date stamp ship item item item"), ["end"]);
    assert_eq!(run(&s, "date ship item item item item"), ["!item>3", "end"]);
    assert_eq!(run(&s, "date ship item"), ["1 item < 2"]);
    assert_eq!(run(&s, "date ship"), ["missing item"]);
    assert_eq!(run(&s, "date"), ["missing pickup,ship"]);
    assert_eq!(run(&s, ""), ["missing date"]);
    assert_eq!(
        run(&s, "date pickup ship item item"),
        ["!ship[item]", "end"]
    );
    assert_eq!(run(&s, "date item item"), ["item(-pickup,ship)", "end"]);
    assert_eq!(run(&s, "stamp ship item item"), ["stamp(-date)", "end"]);
    assert_eq!(
        run(&s, "date ship stamp item item"),
        ["!stamp[item]", "end"]
    );
    assert_eq!(run(&s, "date ship item item zzz"), ["!zzz[item]", "end"]);
}

#[test]
fn repeated_groups() {
    let s = schema(
        r#"<xs:sequence maxOccurs="unbounded">
             <xs:element name="a"/><xs:element name="b" minOccurs="0"/>
           </xs:sequence>"#,
    );
    assert_eq!(run(&s, "a b a a b"), ["end"]);
    assert_eq!(run(&s, "b"), ["b(-a)", "end"]);
    assert_eq!(run(&s, "a b b"), ["!b[a]", "end"]);
    let c = schema(
        r#"<xs:choice minOccurs="2" maxOccurs="3"><xs:element name="a"/><xs:element name="b"/></xs:choice>"#,
    );
    assert_eq!(run(&c, "a b"), ["end"]);
    assert_eq!(run(&c, "b b a"), ["end"]);
    assert_eq!(run(&c, "a"), ["missing a,b"]);
    assert_eq!(run(&c, "a a a a"), ["!a[]", "end"]);
    let nested = schema(
        r#"<xs:sequence><xs:element name="h"/>
             <xs:sequence maxOccurs="unbounded"><xs:element name="k"/><xs:element name="v"/></xs:sequence>
             <xs:element name="t"/></xs:sequence>"#,
    );
    assert_eq!(run(&nested, "h k v k v t"), ["end"]);
    assert_eq!(run(&nested, "h k t"), ["t(-v)", "end"]);
    assert_eq!(run(&nested, "h k v k"), ["missing v"]);
}

#[test]
fn all_and_wildcards() {
    let s = schema(
        r#"<xs:all><xs:element name="a"/><xs:element name="b" minOccurs="0"/><xs:element name="c"/></xs:all>"#,
    );
    assert_eq!(run(&s, "c a"), ["end"]);
    assert_eq!(run(&s, "b c a"), ["end"]);
    assert_eq!(run(&s, "a a c"), ["!a[b,c]", "end"]);
    assert_eq!(run(&s, "b a"), ["missing c"]);
    let w = schema(
        r#"<xs:sequence><xs:element name="a"/><xs:any namespace='##local' processContents="skip" maxOccurs="2"/></xs:sequence>"#,
    );
    assert_eq!(run(&w, "a x y"), ["end"]);
    assert_eq!(run(&w, "a x y z"), ["!z>2", "end"]);
    assert_eq!(run(&w, "a"), ["missing any element"]);
}

#[test]
fn repeats_tells_where_positions_belong() {
    let s = schema(ORDER);
    let mut m = Matcher::new(&s, root(&s), &mut Pool::default());
    assert!(!m.step(None, "date").unwrap().repeats);
    assert!(!m.step(None, "ship").unwrap().repeats);
    assert!(m.step(None, "item").unwrap().repeats);
    match m.step(None, "item").unwrap().matched {
        Matched::Element(e) => assert_eq!(s.element(e).name.local, "item"),
        Matched::Any(_) => panic!("not a wildcard"),
    }
}
