use super::*;

const ORDER_XSD: &str = include_str!("../../fixtures/order.xsd");

fn order() -> Schema {
    Schema::compile(ORDER_XSD).unwrap()
}

/// The reasons for a document, as the plugin lists them.
fn reasons(schema: &Schema, xml: &str) -> Vec<String> {
    match validate(schema, xml, 100) {
        Outcome::Valid => Vec::new(),
        Outcome::Invalid { violations, .. } => violations.iter().map(ToString::to_string).collect(),
        Outcome::Malformed(reason) => vec![format!("MALFORMED {reason}")],
        Outcome::Unjudgeable(reason) => vec![format!("UNJUDGEABLE {reason}")],
    }
}

/// A schema in no namespace with these top-level declarations.
fn schema(body: &str) -> Schema {
    Schema::compile(&format!(
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{body}</xs:schema>"#
    ))
    .unwrap()
}

#[test]
fn the_fixtures() {
    let order = order();
    assert_eq!(
        reasons(&order, include_str!("../../fixtures/order-good.xml")),
        Vec::<String>::new()
    );
    assert_eq!(
        reasons(&order, include_str!("../../fixtures/order-bad.xml")),
        [
            r"line 2, /order/@id: '42' does not match the pattern 'ORD-\d{6}'",
            "line 2, /order/@currency: 'YEN' is not one of the allowed values: EUR, USD, GBP, CHF",
            "line 3, /order/date: '2026-02-30' is not a valid xs:date (expected YYYY-MM-DD)",
            r"line 6, /order/customer/email: 'bob-at-example' does not match the pattern '[^@\s]+@[^@\s]+\.[a-z]{2,}'",
            "line 8, /order: missing one of <pickup>, <delivery> before <item>",
            "line 10, /order/item[1]/qty: 'abc' is not a valid xs:positiveInteger",
            r"line 14, /order/item[2]/sku: 'abc-12' does not match the pattern '[A-Z]{3}-\d{4}'",
            "line 16, /order/item[2]/price: '-5' is out of range: expected at least 0",
            "line 18, /order/item[3]: missing required attribute 'line'",
            "line 22, /order/item[3]/deliverBy: '2026-03-01' is not a valid xs:dateTime (expected YYYY-MM-DDThh:mm:ss)",
            "line 24, /order/item[4]: missing <price>",
            "line 26, /order/item[4]/qty: '1000' is out of range: expected at most 999",
            "line 28, /order/discount: unexpected element <discount>; expected one of <item>, <note>",
        ]
    );
}

#[test]
fn namespaces_are_part_of_names() {
    let order = order();
    let body = r#"<date>2026-01-01</date><customer><name>A</name></customer><pickup store="1"/>
<item line="1"><sku>ABC-1234</sku><qty>1</qty><price>1</price></item>"#;
    let doc = |root: &str, close: &str| format!(r#"{root}{body}</{close}>"#);
    assert!(
        reasons(
            &order,
            &doc(
                r#"<order xmlns="urn:example:order" id="ORD-000001">"#,
                "order"
            )
        )
        .is_empty()
    );
    let prefixed = format!(
        r#"<o:order xmlns:o="urn:example:order" id="ORD-000001">{}</o:order>"#,
        body.replace('<', "<o:").replace("<o:/", "</o:")
    );
    assert!(
        reasons(&order, &prefixed).is_empty(),
        "{:?}",
        reasons(&order, &prefixed)
    );
    assert_eq!(
        reasons(&order, &doc(r#"<order id="ORD-000001">"#, "order")),
        [
            "line 1, /order: the root element <order> in no namespace is not declared by the schema; expected <order (in urn:example:order)>"
        ]
    );
    // A child in no namespace where the schema qualifies local elements.
    let unqualified = r#"<o:order xmlns:o="urn:example:order" id="ORD-000001"><o:date>2026-01-01</o:date><customer><o:name>A</o:name></customer></o:order>"#;
    assert_eq!(
        reasons(&order, unqualified),
        [
            "line 1, /o:order/customer: <customer> is in no namespace, not the namespace the schema declares it in (check the xmlns declarations and elementFormDefault)",
            "line 1, /o:order: missing <customer>",
        ]
    );
}

#[test]
fn not_well_formed() {
    let s = schema(r#"<xs:element name="a"/>"#);
    let malformed = |xml: &str| match validate(&s, xml, 10) {
        Outcome::Malformed(reason) => reason,
        other => panic!("{xml}: {other:?}"),
    };
    assert!(malformed("<a>\n  <b>\n</a>").starts_with("line 3, column 1: not well-formed XML"));
    assert_eq!(
        malformed("<a>\n<b>"),
        "line 2, column 4: not well-formed XML: the document ends before <b> (line 2) is closed"
    );
    assert!(malformed("<a/><a/>").contains("a second root element"));
    assert!(malformed("<a>&nbsp;</a>").contains("the entity &nbsp; is not defined"));
    assert!(malformed("<p:a/>").contains("the prefix 'p' is not declared"));
    assert!(malformed("x<a/>").contains("text outside the root element"));
    assert!(malformed("<a x='1' x='2'/>").contains("line 1"));
    assert!(malformed("").contains("no root element"));
    let deep = format!("<a>{}", "<b>".repeat(2000));
    assert!(malformed(&deep).starts_with(
        "line 1, column 3073: not well-formed XML: elements are nested more than 1024 deep"
    ));
    assert!(malformed("<a").starts_with("line 1"));
    assert_eq!(
        validate(
            &s,
            "<?xml version='1.0'?>\n<!-- c -->\n<a>&lt;&#65;</a>\n",
            10
        ),
        Outcome::Valid
    );
}

#[test]
fn content_kinds() {
    let s = schema(
        r#"<xs:element name="r"><xs:complexType><xs:sequence>
             <xs:element name="empty" minOccurs="0"><xs:complexType/></xs:element>
             <xs:element name="mixed" minOccurs="0"><xs:complexType mixed="true"><xs:sequence>
               <xs:element name="b" type="xs:string" minOccurs="0" maxOccurs="unbounded"/></xs:sequence></xs:complexType></xs:element>
             <xs:element name="n" type="xs:int" minOccurs="0"/>
             <xs:element name="any" minOccurs="0"/>
           </xs:sequence></xs:complexType></xs:element>"#,
    );
    assert!(
        reasons(
            &s,
            "<r><empty/><mixed>a <b>b</b> c</mixed><n> 5 </n><any x='1'>t<y><z/></y></any></r>"
        )
        .is_empty()
    );
    assert_eq!(
        reasons(&s, "<r>\n<empty>x<i/></empty></r>"),
        ["line 2, /r/empty: text 'x' is not allowed: <empty> has empty content"]
    );
    assert_eq!(
        reasons(&s, "<r>\n<empty><i/><j/></empty></r>"),
        ["line 2, /r/empty/i: <empty> must be empty"]
    );
    assert_eq!(
        reasons(&s, "<r>hello<n>1</n></r>"),
        ["line 1, /r: text 'hello' is not allowed: <r> has element-only content"]
    );
    assert_eq!(
        reasons(&s, "<r><n>1<i/></n></r>"),
        ["line 1, /r/n/i: <n> has simple content (xs:int) and cannot contain elements"]
    );
    assert_eq!(
        reasons(&s, "<r><n></n></r>"),
        ["line 1, /r/n: '' is not a valid xs:int"]
    );
    assert_eq!(
        reasons(&s, "<r><n a='1'>1</n></r>"),
        ["line 1, /r/n/@a: attribute 'a' is not allowed: <n> has a simple type"]
    );
    assert_eq!(
        reasons(&s, "<r><n>1<!-- c --><![CDATA[2]]>&#51;</n></r>"),
        Vec::<String>::new()
    );
}

#[test]
fn attributes() {
    let s = schema(
        r#"<xs:element name="r"><xs:complexType>
             <xs:attribute name="req" type="xs:int" use="required"/>
             <xs:attribute name="fix" type="xs:token" fixed="a b"/>
             <xs:attribute name="no" type="xs:string" use="prohibited"/>
             <xs:attribute name="d" type="xs:date"/>
           </xs:complexType></xs:element>"#,
    );
    assert!(reasons(&s, "<r req=' 7 ' fix='a  b' d='2024-02-29'/>").is_empty());
    assert_eq!(
        reasons(&s, "<r fix='b' no='1' d='x' other='2'/>"),
        [
            "line 1, /r/@fix: 'b' must be 'a b', the fixed value",
            "line 1, /r/@no: attribute 'no' is not declared for <r>",
            "line 1, /r/@d: 'x' is not a valid xs:date (expected YYYY-MM-DD)",
            "line 1, /r/@other: attribute 'other' is not declared for <r>",
            "line 1, /r: missing required attribute 'req'",
        ]
    );
    let w = schema(
        r#"<xs:element name="r"><xs:complexType><xs:anyAttribute namespace='##other'/></xs:complexType></xs:element>"#,
    );
    assert!(reasons(&w, "<r xmlns:x='urn:x' x:a='1' xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' xsi:schemaLocation='u v'/>").is_empty());
    assert_eq!(
        reasons(&w, "<r a='1'/>"),
        ["line 1, /r/@a: attribute 'a' is not declared for <r>"]
    );
}

#[test]
fn nil_fixed_and_default() {
    let s = schema(
        r#"<xs:element name="r"><xs:complexType><xs:sequence>
             <xs:element name="a" type="xs:int" nillable="true" minOccurs="0"/>
             <xs:element name="b" type="xs:int" minOccurs="0"/>
             <xs:element name="c" type="xs:int" default="3" minOccurs="0"/>
             <xs:element name="d" type="xs:token" fixed="on" minOccurs="0"/>
           </xs:sequence></xs:complexType></xs:element>"#,
    );
    let xsi = "xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'";
    assert!(
        reasons(
            &s,
            &format!("<r {xsi}><a xsi:nil='true'/><c/><d> on </d></r>")
        )
        .is_empty()
    );
    assert_eq!(
        reasons(
            &s,
            &format!("<r {xsi}><a xsi:nil='true'>1</a><b xsi:nil='true'/><d>off</d></r>")
        ),
        [
            "line 1, /r/a: <a> has xsi:nil=\"true\" and must be empty",
            "line 1, /r/b: xsi:nil is not allowed: <b> is not nillable",
            "line 1, /r/b: '' is not a valid xs:int",
            "line 1, /r/d: 'off' must be 'on', the fixed value",
        ]
    );
    match validate(&s, &format!("<r {xsi}><b xsi:type='xs:long'>1</b></r>"), 10) {
        Outcome::Unjudgeable(reason) => assert!(reason.contains("xsi:type"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wildcards() {
    let s = schema(
        r#"<xs:element name="r"><xs:complexType><xs:sequence>
             <xs:any namespace='##local' processContents="strict" minOccurs="0"/>
             <xs:any namespace="urn:lax" processContents="lax" minOccurs="0"/>
             <xs:any namespace="urn:skip" processContents="skip" minOccurs="0"/>
           </xs:sequence></xs:complexType></xs:element>
           <xs:element name="n" type="xs:int"/>"#,
    );
    assert!(
        reasons(
            &s,
            "<r><n>1</n><l xmlns='urn:lax'><x/></l><s xmlns='urn:skip'><y z='1'/></s></r>"
        )
        .is_empty()
    );
    assert_eq!(
        reasons(&s, "<r><n>x</n></r>"),
        ["line 1, /r/n: 'x' is not a valid xs:int"]
    );
    assert_eq!(
        reasons(&s, "<r><m/></r>"),
        ["line 1, /r/m: <m> matches a strict wildcard, but the schema declares no such element"]
    );
}

#[test]
fn derivations_groups_and_recursion() {
    let s = schema(
        r#"<xs:complexType name="Base"><xs:sequence><xs:element name="a" type="xs:string"/></xs:sequence>
             <xs:attribute name="id" type="xs:int" use="required"/></xs:complexType>
           <xs:complexType name="Ext"><xs:complexContent><xs:extension base="Base">
             <xs:sequence><xs:element name="b" type="xs:string"/></xs:sequence>
             <xs:attributeGroup ref="Extra"/></xs:extension></xs:complexContent></xs:complexType>
           <xs:attributeGroup name="Extra"><xs:attribute name="x" type="xs:boolean"/></xs:attributeGroup>
           <xs:group name="Pair"><xs:sequence><xs:element name="k"/><xs:element name="v"/></xs:sequence></xs:group>
           <xs:complexType name="Node"><xs:sequence>
             <xs:group ref="Pair" minOccurs="0" maxOccurs="unbounded"/>
             <xs:element name="node" type="Node" minOccurs="0" maxOccurs="unbounded"/></xs:sequence></xs:complexType>
           <xs:element name="r"><xs:complexType><xs:sequence>
             <xs:element name="e" type="Ext"/><xs:element name="node" type="Node"/></xs:sequence></xs:complexType></xs:element>"#,
    );
    assert!(
        reasons(
            &s,
            "<r><e id='1' x='true'><a/><b/></e><node><k/><v/><node><node/></node></node></r>"
        )
        .is_empty()
    );
    assert_eq!(
        reasons(
            &s,
            "<r>\n<e x='maybe'><a/></e>\n<node><node><k/></node></node></r>"
        ),
        [
            "line 2, /r/e/@x: 'maybe' is not a valid xs:boolean (expected true, false, 1 or 0)",
            "line 2, /r/e: missing required attribute 'id'",
            "line 2, /r/e: missing <b>",
            "line 3, /r/node/node[1]: missing <v>",
        ]
    );
}

#[test]
fn positions_show_where_names_repeat() {
    let s = schema(
        r#"<xs:element name="r"><xs:complexType><xs:sequence>
             <xs:element name="one" type="xs:int"/>
             <xs:element name="many" type="xs:int" maxOccurs="unbounded"/>
           </xs:sequence></xs:complexType></xs:element>"#,
    );
    assert_eq!(
        reasons(&s, "<r><one>x</one><one>1</one><many>y</many></r>"),
        [
            "line 1, /r/one: 'x' is not a valid xs:int",
            "line 1, /r/one[2]: unexpected element <one>; expected <many>",
            "line 1, /r/many[1]: 'y' is not a valid xs:int",
        ]
    );
}

#[test]
fn counts_beyond_the_kept_violations() {
    let s = schema(
        r#"<xs:element name="r"><xs:complexType><xs:sequence><xs:element name="n" type="xs:int" maxOccurs="unbounded"/></xs:sequence></xs:complexType></xs:element>"#,
    );
    let xml = format!("<r>{}</r>", "<n>x</n>".repeat(30));
    match validate(&s, &xml, 5) {
        Outcome::Invalid { violations, total } => assert_eq!((violations.len(), total), (5, 30)),
        other => panic!("{other:?}"),
    }
}
