//! The HTML context of `html/template` (Go's `context.go`): where in a document the output
//! is (text, a tag, an attribute value of some kind, a comment, a `<title>`...). The
//! JavaScript parts of Go's context are left out (see `transition`).

/// Where in an HTML document output goes (Go's `state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum State {
    #[default]
    Text,
    Tag,
    AttrName,
    AfterName,
    BeforeValue,
    HtmlCmt,
    Rcdata,
    Attr,
    Url,
    Srcset,
    Js,
    Css,
    CssDqStr,
    CssSqStr,
    CssDqUrl,
    CssSqUrl,
    CssUrl,
    CssBlockCmt,
    CssLineCmt,
}

impl State {
    /// Whether text in this state is a comment (dropped from the output).
    pub(crate) fn is_comment(self) -> bool {
        matches!(
            self,
            State::HtmlCmt | State::CssBlockCmt | State::CssLineCmt
        )
    }

    /// Whether the state is inside a tag (Go's `isInTag`).
    pub(crate) fn is_in_tag(self) -> bool {
        matches!(
            self,
            State::Tag | State::AttrName | State::AfterName | State::BeforeValue | State::Attr
        )
    }

    fn go_name(self) -> &'static str {
        match self {
            State::Text => "stateText",
            State::Tag => "stateTag",
            State::AttrName => "stateAttrName",
            State::AfterName => "stateAfterName",
            State::BeforeValue => "stateBeforeValue",
            State::HtmlCmt => "stateHTMLCmt",
            State::Rcdata => "stateRCDATA",
            State::Attr => "stateAttr",
            State::Url => "stateURL",
            State::Srcset => "stateSrcset",
            State::Js => "stateJS",
            State::Css => "stateCSS",
            State::CssDqStr => "stateCSSDqStr",
            State::CssSqStr => "stateCSSSqStr",
            State::CssDqUrl => "stateCSSDqURL",
            State::CssSqUrl => "stateCSSSqURL",
            State::CssUrl => "stateCSSURL",
            State::CssBlockCmt => "stateCSSBlockCmt",
            State::CssLineCmt => "stateCSSLineCmt",
        }
    }
}

/// How the current attribute value ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Delim {
    #[default]
    None,
    DoubleQuote,
    SingleQuote,
    SpaceOrTagEnd,
}

impl Delim {
    /// The bytes that end a value with this delimiter.
    pub(crate) fn ends(self) -> &'static [u8] {
        match self {
            Delim::DoubleQuote => b"\"",
            Delim::SingleQuote => b"'",
            Delim::SpaceOrTagEnd => b" \t\n\x0c\r>",
            Delim::None => b"",
        }
    }
}

/// Which part of a URL the output is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum UrlPart {
    #[default]
    None,
    PreQuery,
    QueryOrFrag,
}

/// What kind of attribute a value belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Attr {
    #[default]
    None,
    Script,
    ScriptType,
    Style,
    Url,
    Srcset,
}

/// The elements whose content is not HTML.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Element {
    #[default]
    None,
    Script,
    Style,
    Textarea,
    Title,
}

impl Element {
    /// The name whose end tag closes the element.
    pub(crate) fn end_tag(self) -> &'static [u8] {
        match self {
            Element::Script => b"script",
            Element::Style => b"style",
            Element::Textarea => b"textarea",
            Element::Title => b"title",
            Element::None => b"",
        }
    }

    /// The state the element's content is in.
    pub(crate) fn content(self) -> State {
        match self {
            Element::None => State::Text,
            Element::Script => State::Js,
            Element::Style => State::Css,
            Element::Textarea | Element::Title => State::Rcdata,
        }
    }
}

/// Go's `context` (without the JavaScript parts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Context {
    pub state: State,
    pub delim: Delim,
    pub url_part: UrlPart,
    pub attr: Attr,
    pub element: Element,
}

impl std::fmt::Display for Context {
    /// As Go prints a context: `{stateAttr delimDoubleQuote urlPartNone jsCtxRegexp attrNone
    /// elementNone <nil>}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let delim = match self.delim {
            Delim::None => "delimNone",
            Delim::DoubleQuote => "delimDoubleQuote",
            Delim::SingleQuote => "delimSingleQuote",
            Delim::SpaceOrTagEnd => "delimSpaceOrTagEnd",
        };
        let url = match self.url_part {
            UrlPart::None => "urlPartNone",
            UrlPart::PreQuery => "urlPartPreQuery",
            UrlPart::QueryOrFrag => "urlPartQueryOrFrag",
        };
        let attr = match self.attr {
            Attr::None => "attrNone",
            Attr::Script => "attrScript",
            Attr::ScriptType => "attrScriptType",
            Attr::Style => "attrStyle",
            Attr::Url => "attrURL",
            Attr::Srcset => "attrSrcset",
        };
        let element = match self.element {
            Element::None => "elementNone",
            Element::Script => "elementScript",
            Element::Style => "elementStyle",
            Element::Textarea => "elementTextarea",
            Element::Title => "elementTitle",
        };
        let state = self.state.go_name();
        write!(
            f,
            "{{{state} {delim} {url} jsCtxRegexp {attr} {element} <nil>}}"
        )
    }
}

/// Go's `nudge`: the context an action sees where the text left it between states.
pub(crate) fn nudge(mut c: Context) -> Context {
    match c.state {
        State::Tag => c.state = State::AttrName,
        State::BeforeValue => {
            c.state = attr_start(c.attr);
            c.delim = Delim::SpaceOrTagEnd;
            c.attr = Attr::None;
        }
        State::AfterName => {
            c.state = State::AttrName;
            c.attr = Attr::None;
        }
        _ => {}
    }
    c
}

/// The state a value of the attribute starts in.
pub(crate) fn attr_start(attr: Attr) -> State {
    match attr {
        Attr::None | Attr::ScriptType => State::Attr,
        Attr::Script => State::Js,
        Attr::Style => State::Css,
        Attr::Url => State::Url,
        Attr::Srcset => State::Srcset,
    }
}
