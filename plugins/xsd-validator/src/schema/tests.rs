use super::*;

/// Compiles top-level declarations in a schema with no target namespace.
fn compile(body: &str) -> Result<Schema, String> {
    Schema::compile(&format!(
        "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n{body}\n</xs:schema>"
    ))
}

fn error(body: &str) -> String {
    compile(body).expect_err(body)
}

#[test]
fn the_fixture_compiles() {
    let schema = Schema::compile(include_str!("../../fixtures/order.xsd")).unwrap();
    assert_eq!(schema.target.as_deref(), Some("urn:example:order"));
    let order = schema.global(Some("urn:example:order"), "order").unwrap();
    assert_eq!(schema.element(order).name.display(), "order");
    assert!(schema.global(None, "order").is_none());
    assert!(schema.ignored.is_empty());
}

#[test]
fn unsupported_constructs_are_named() {
    assert_eq!(
        error("<xs:import namespace='urn:x' schemaLocation='x.xsd'/>"),
        "line 2: xs:import is not supported: the schema must be one self-contained document"
    );
    assert!(error("<xs:include schemaLocation='x.xsd'/>").contains("xs:include is not supported"));
    assert_eq!(
        error("<xs:element name='a'/><xs:element name='b' substitutionGroup='a'/>"),
        "line 2: substitution groups are not supported"
    );
    assert!(error("<xs:element name='a' abstract='true'/>").contains("abstract elements"));
    assert!(
        error(
            "<xs:element name='a'><xs:complexType><xs:openContent/></xs:complexType></xs:element>"
        )
        .contains("xs:openContent is not supported")
    );
    assert!(
        error("<xs:simpleType name='t'><xs:restriction base='xs:string'><xs:assertion test='1'/></xs:restriction></xs:simpleType><xs:element name='a'/>")
            .contains("assertion '': this facet is not supported")
    );
    assert!(
        error("<xs:simpleType name='t'><xs:restriction base='xs:string'><xs:pattern value='\\p{IsGreek}'/></xs:restriction></xs:simpleType><xs:element name='a'/>")
            .contains("Unicode block")
    );
}

#[test]
fn broken_references_and_definitions() {
    assert_eq!(
        error("<xs:element name='a' type='xs:integr'/>"),
        "line 2: xs:integr is not a built-in type"
    );
    assert_eq!(
        error("<xs:element name='a' type='Missing'/>"),
        "line 2: the schema defines no type 'Missing'"
    );
    assert!(
        error("<xs:element name='a' xmlns:o='urn:o' type='o:T'/>").contains(
            "the type 'T' is in urn:o, not in this schema's namespace (imports are not supported)"
        )
    );
    assert!(error("<xs:element name='a' type='p:T'/>").contains("the prefix 'p'"));
    assert_eq!(
        error(
            "<xs:element name='a'><xs:complexType><xs:sequence><xs:element name='b' minOccurs='2' maxOccurs='1'/></xs:sequence></xs:complexType></xs:element>"
        ),
        "line 2: minOccurs 2 is more than maxOccurs 1"
    );
    assert!(
        error("<xs:simpleType name='a'><xs:restriction base='b'/></xs:simpleType><xs:simpleType name='b'><xs:restriction base='a'/></xs:simpleType><xs:element name='e' type='a'/>")
            .contains("is derived from itself")
    );
    assert!(
        error("<xs:group name='g'><xs:sequence><xs:group ref='g'/></xs:sequence></xs:group><xs:element name='e'><xs:complexType><xs:group ref='g'/></xs:complexType></xs:element>")
            .contains("contains itself")
    );
    assert!(error("<xs:element name='a'/><xs:element name='a'/>").contains("'a' is defined twice"));
    assert!(
        error("<xs:simpleType name='t'><xs:restriction base='xs:int'><xs:maxLength value='3'/></xs:restriction></xs:simpleType><xs:element name='a'/>")
            .contains("length facets do not apply to xs:int")
    );
    assert!(
        error("<xs:element name='a' type='xs:int' default='x'/>")
            .contains("'x' is not a valid xs:int")
    );
    assert!(
        error("<xs:attribute name='a' type='xs:int' fixed='x'/><xs:element name='e'/>")
            .contains("fixed value")
    );
    assert_eq!(
        compile("").unwrap_err(),
        "the schema declares no top-level element, so no document can be valid"
    );
    assert!(
        Schema::compile("<schema/>")
            .unwrap_err()
            .contains("the root element is not xs:schema")
    );
    assert!(
        Schema::compile("<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'>")
            .unwrap_err()
            .contains("not well-formed")
    );
}

#[test]
fn what_is_read_but_not_enforced_is_listed() {
    let schema = compile(
        "<xs:element name='a'><xs:complexType><xs:sequence><xs:element name='b' maxOccurs='unbounded'/></xs:sequence></xs:complexType>\n\
         <xs:unique name='u'><xs:selector xpath='b'/><xs:field xpath='@id'/></xs:unique></xs:element>",
    )
    .unwrap();
    assert_eq!(
        schema.ignored,
        ["line 3: the identity constraint xs:unique is not enforced"]
    );
}

#[test]
fn forms_decide_namespaces() {
    let schema = Schema::compile(
        "<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema' targetNamespace='urn:t' xmlns:t='urn:t'>\
           <xs:element name='r'><xs:complexType><xs:sequence>\
             <xs:element name='local'/><xs:element name='q' form='qualified'/><xs:element ref='t:g'/>\
           </xs:sequence><xs:attribute name='a'/><xs:attribute name='b' form='qualified'/></xs:complexType></xs:element>\
           <xs:element name='g'/></xs:schema>",
    )
    .unwrap();
    let names: Vec<String> = schema
        .elements
        .iter()
        .map(|e| format!("{}:{}", e.name.ns.as_deref().unwrap_or("-"), e.name.local))
        .collect();
    assert_eq!(names, ["urn:t:r", "-:local", "urn:t:q", "urn:t:g"]);
    let Type::Complex(r) = &schema.types[schema.element(0).ty] else {
        panic!("r has a complex type");
    };
    let attributes: Vec<Option<&str>> = r.attributes.iter().map(|a| a.name.ns.as_deref()).collect();
    assert_eq!(attributes, [None, Some("urn:t")]);
}
