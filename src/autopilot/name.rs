//! Device names: the profile's `deviceNameTemplate` and per-device names.
//!
//! Windows computer names follow NetBIOS rules (graph-api.md §4.1): at
//! most 15 characters, letters, digits and hyphens only, not all digits.
//! A template adds two macros, `%SERIAL%` and `%RAND:n%`. Decisions where
//! the documentation is silent:
//!
//! * macros are documented in upper case only; nothing says other casings
//!   fail, so `%serial%` is read as the macro with a warning
//!   ([`NameProblem::MacroCase`]), not rejected;
//! * the *fixed* part (literals plus `n` per `%RAND:n%`) must leave room
//!   for at least one serial character when `%SERIAL%` is present;
//! * the serial is truncated from the left when it does not fit, keeping
//!   the tail, which is the part that differs between devices of a batch.
//!   fleetlab warns when the room left is below [`LONGEST_COMMON_SERIAL`];
//! * two `%SERIAL%` macros are allowed with a warning (undocumented).

use std::fmt;

/// At most this many characters in a computer name.
pub const MAX_NAME: usize = 15;

/// The longest serial of mainstream Windows OEMs, for the truncation
/// warning: Microsoft Surface serials have 12 digits (HP has 10, Lenovo 8,
/// Dell 7). Virtual machine serials are longer still.
pub const LONGEST_COMMON_SERIAL: usize = 12;

/// One piece of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// Characters copied as they are.
    Literal(String),
    /// `%SERIAL%`: the device serial, truncated from the left to fit.
    Serial,
    /// `%RAND:n%`: `n` random digits.
    Rand(usize),
}

/// A checked device name template.
///
/// ```
/// use fleetlab::autopilot::NameTemplate;
/// let t = NameTemplate::parse("HQ-%SERIAL%").map_err(|p| format!("{p:?}"))?;
/// // 3 fixed characters leave 12 for the serial; longer serials keep their tail.
/// assert_eq!(t.expand("PF3K9Q2AXYZ012345", &mut || 7), "HQ-Q2AXYZ012345");
/// assert_eq!(NameTemplate::parse("CONTOSO-%RAND:5%").map(|t| t.fixed_len()), Ok(13));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameTemplate {
    text: String,
    tokens: Vec<Token>,
}

/// Something wrong or risky in a template or a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameProblem {
    /// A character other than a letter, digit or hyphen.
    Character {
        /// The character.
        found: char,
        /// Its position, in characters from 0.
        at: usize,
    },
    /// `%…%` that is not a macro, or a stray `%`.
    Macro {
        /// The text as written.
        text: String,
        /// What to write instead, when fleetlab can tell.
        hint: Option<String>,
    },
    /// The fixed part leaves no room (15 characters; one for the serial).
    TooLong {
        /// Fixed characters.
        fixed: usize,
        /// Whether `%SERIAL%` needs room too.
        serial: bool,
    },
    /// Every name it can produce is all digits.
    AllDigits,
    /// Only `%SERIAL%` and digits: an all-digit serial gives an all-digit name.
    SerialMayBeDigits,
    /// Serials longer than `room` characters lose their first characters.
    SerialTruncated {
        /// Characters left for the serial.
        room: usize,
    },
    /// More than one `%SERIAL%`.
    MultipleSerial,
    /// A macro written in another case than the documented one.
    MacroCase {
        /// The macro as written.
        text: String,
    },
}

impl NameProblem {
    /// True for problems Intune rejects (the others are warnings).
    pub fn is_error(&self) -> bool {
        !matches!(
            self,
            NameProblem::SerialMayBeDigits
                | NameProblem::SerialTruncated { .. }
                | NameProblem::MultipleSerial
                | NameProblem::MacroCase { .. }
        )
    }
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Character { found, at } => write!(
                f,
                "character {found:?} at position {} is not allowed; device names use letters, digits and hyphens only",
                at + 1
            ),
            NameProblem::Macro { text, hint: Some(hint) } => write!(f, "{text:?} is not a macro; {hint}"),
            NameProblem::Macro { text, hint: None } => {
                write!(f, "{text:?} is not a macro; the macros are %SERIAL% and %RAND:n%")
            }
            NameProblem::TooLong { fixed, serial: false } => {
                write!(f, "names have {fixed} characters; at most {MAX_NAME} are allowed")
            }
            NameProblem::TooLong { fixed, serial: true } => write!(
                f,
                "the fixed part has {fixed} characters, leaving no room for %SERIAL% in {MAX_NAME}; \
                 shorten it to at most {}",
                MAX_NAME - 1
            ),
            NameProblem::AllDigits => f.write_str("every name it produces is all digits, which Windows rejects"),
            NameProblem::SerialMayBeDigits => f.write_str(
                "only %SERIAL% and digits: devices with all-digit serials (Microsoft Surface) get all-digit names, \
                 which Windows rejects; add a letter prefix",
            ),
            NameProblem::SerialTruncated { room } => write!(
                f,
                "{room} characters are left for %SERIAL%; longer serials lose their first characters \
                 (Surface serials have 12, HP 10, Lenovo 8, Dell 7), so two devices can get the same name"
            ),
            NameProblem::MultipleSerial => f.write_str("more than one %SERIAL% is undocumented"),
            NameProblem::MacroCase { text } => write!(
                f,
                "{text:?} is read as {:?}, the case the documentation writes; other casings are undocumented",
                text.to_ascii_uppercase()
            ),
        }
    }
}

fn name_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

impl NameTemplate {
    /// Tokenizes and checks `text`; `Err` carries the errors (and any
    /// warnings found on the way).
    pub fn parse(text: &str) -> Result<NameTemplate, Vec<NameProblem>> {
        let (template, problems) = NameTemplate::check(text);
        match template {
            Some(t) if !problems.iter().any(NameProblem::is_error) => Ok(t),
            _ => Err(problems),
        }
    }

    /// Tokenizes `text` and lists every problem, errors and warnings; the
    /// template is `None` when it has errors.
    pub fn check(text: &str) -> (Option<NameTemplate>, Vec<NameProblem>) {
        let mut tokens = Vec::new();
        let mut problems = Vec::new();
        let mut literal = String::new();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c != '%' {
                if !name_char_ok(c) {
                    problems.push(NameProblem::Character { found: c, at: i });
                }
                literal.push(c);
                i += 1;
                continue;
            }
            let close = chars[i + 1..].iter().position(|&c| c == '%').map(|p| i + 1 + p);
            let Some(close) = close else {
                problems.push(NameProblem::Macro {
                    text: chars[i..].iter().collect(),
                    hint: Some("a lone % is not allowed in a device name".into()),
                });
                break;
            };
            let body: String = chars[i + 1..close].iter().collect();
            let whole: String = chars[i..=close].iter().collect();
            if !literal.is_empty() {
                tokens.push(Token::Literal(std::mem::take(&mut literal)));
            }
            match macro_token(&body) {
                Ok(t) => {
                    if !(body == "SERIAL" || body.starts_with("RAND:")) {
                        problems.push(NameProblem::MacroCase { text: whole });
                    }
                    tokens.push(t)
                }
                Err(hint) => problems.push(NameProblem::Macro { text: whole, hint }),
            }
            i = close + 1;
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        let template = NameTemplate { text: text.to_string(), tokens };
        let serials = template.tokens.iter().filter(|t| matches!(t, Token::Serial)).count();
        let fixed = template.fixed_len();
        if serials == 0 && fixed > MAX_NAME {
            problems.push(NameProblem::TooLong { fixed, serial: false });
        } else if serials > 0 && fixed >= MAX_NAME {
            problems.push(NameProblem::TooLong { fixed, serial: true });
        }
        let digit_literals = template
            .tokens
            .iter()
            .all(|t| !matches!(t, Token::Literal(s) if !s.chars().all(|c| c.is_ascii_digit())));
        if digit_literals && serials == 0 && !template.tokens.is_empty() {
            problems.push(NameProblem::AllDigits);
        } else if digit_literals && serials > 0 {
            problems.push(NameProblem::SerialMayBeDigits);
        }
        if serials > 0 && fixed < MAX_NAME {
            let room = (MAX_NAME - fixed) / serials;
            if room < LONGEST_COMMON_SERIAL {
                problems.push(NameProblem::SerialTruncated { room });
            }
        }
        if serials > 1 {
            problems.push(NameProblem::MultipleSerial);
        }
        let ok = !problems.iter().any(NameProblem::is_error);
        (ok.then_some(template), problems)
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The pieces.
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// Characters every name has whatever the serial: literals and random digits.
    pub fn fixed_len(&self) -> usize {
        self.tokens
            .iter()
            .map(|t| match t {
                Token::Literal(s) => s.chars().count(),
                Token::Serial => 0,
                Token::Rand(n) => *n,
            })
            .sum()
    }

    /// The name a device with `serial` gets; `digit` draws each random
    /// digit (0–9). The serial is stripped of characters names cannot hold
    /// and truncated from the left to fit 15 characters.
    pub fn expand(&self, serial: &str, digit: &mut dyn FnMut() -> u8) -> String {
        let serials = self.tokens.iter().filter(|t| matches!(t, Token::Serial)).count().max(1);
        let room = MAX_NAME.saturating_sub(self.fixed_len()) / serials;
        let clean: Vec<char> = serial.chars().filter(|&c| name_char_ok(c)).collect();
        let tail: String = clean[clean.len().saturating_sub(room)..].iter().collect();
        let mut out = String::new();
        for t in &self.tokens {
            match t {
                Token::Literal(s) => out.push_str(s),
                Token::Serial => out.push_str(&tail),
                Token::Rand(n) => {
                    for _ in 0..*n {
                        out.push(char::from(b'0' + digit() % 10));
                    }
                }
            }
        }
        out
    }
}

impl fmt::Display for NameTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The macro `%body%` names, whatever its case.
fn macro_token(body: &str) -> Result<Token, Option<String>> {
    if body.eq_ignore_ascii_case("SERIAL") {
        return Ok(Token::Serial);
    }
    if let Some(n) = body.get(..5).filter(|p| p.eq_ignore_ascii_case("RAND:")).and_then(|_| body.get(5..)) {
        return match n.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(Token::Rand(n)),
            _ => Err(Some(format!("%RAND:n% takes a number of digits from 1, not {n:?}"))),
        };
    }
    Err(None)
}

/// Problems of a literal computer name (a per-device name override):
/// length, characters, all digits, and macros, which belong in the
/// profile's template, not on one device (graph-api.md F5).
///
/// ```
/// use fleetlab::autopilot::name::check_device_name;
/// assert!(check_device_name("CON-FIN-0042").is_empty());
/// assert_eq!(check_device_name("12345").len(), 1);
/// ```
pub fn check_device_name(name: &str) -> Vec<NameProblem> {
    let mut problems = Vec::new();
    if name.contains('%') {
        problems.push(NameProblem::Macro {
            text: name.to_string(),
            hint: Some("a device's own name is literal; macros belong in the profile's template".into()),
        });
        return problems;
    }
    for (at, c) in name.chars().enumerate() {
        if !name_char_ok(c) {
            problems.push(NameProblem::Character { found: c, at });
        }
    }
    let len = name.chars().count();
    if len > MAX_NAME {
        problems.push(NameProblem::TooLong { fixed: len, serial: false });
    }
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_digit()) {
        problems.push(NameProblem::AllDigits);
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<NameProblem> {
        NameTemplate::check(text).1
    }

    #[test]
    fn spec_examples() {
        // graph-api.md §4.1
        assert!(problems("CONTOSO-%RAND:5%").is_empty());
        // 12 characters of room: every common serial fits.
        assert!(problems("HQ-%SERIAL%").is_empty());
        assert_eq!(problems("%RAND:15%"), vec![NameProblem::AllDigits]);
        assert!(matches!(
            problems("LAPTOP_%SERIAL%").first(),
            Some(NameProblem::Character { found: '_', at: 6 })
        ));
        assert_eq!(
            problems("ACME-WORKSTATION-%RAND:3%"),
            vec![NameProblem::TooLong { fixed: 20, serial: false }]
        );
    }

    #[test]
    fn serial_room_and_truncation() {
        assert_eq!(problems("CON-LT-%SERIAL%"), vec![NameProblem::SerialTruncated { room: 8 }]);
        assert_eq!(
            problems("ABCDEFGHIJKLMNO%SERIAL%"),
            vec![NameProblem::TooLong { fixed: 15, serial: true }]
        );
        assert!(problems("ABCDEFGHIJKLMN%SERIAL%").contains(&NameProblem::SerialTruncated { room: 1 }));
        let t = NameTemplate::parse("CON-LT-%SERIAL%");
        assert_eq!(t.map(|t| t.expand("5CG7041P2Q", &mut || 0)), Ok("CON-LT-G7041P2Q".to_string()));
    }

    #[test]
    fn macros_are_exact_but_any_case_is_read() {
        // Only the upper-case spelling is documented; no page says others fail.
        assert_eq!(problems("X-%serial%").first(), Some(&NameProblem::MacroCase { text: "%serial%".into() }));
        assert_eq!(NameTemplate::parse("X-%rand:3%").map(|t| t.fixed_len()), Ok(5));
        assert!(matches!(problems("X-%RAND:0%").first(), Some(NameProblem::Macro { .. })));
        assert!(matches!(problems("X-%DATE%").first(), Some(NameProblem::Macro { hint: None, .. })));
        assert!(matches!(problems("X-%").first(), Some(NameProblem::Macro { .. })));
        assert_eq!(problems("%SERIAL%"), vec![NameProblem::SerialMayBeDigits]);
        assert!(problems("A%SERIAL%%SERIAL%").contains(&NameProblem::MultipleSerial));
    }

    #[test]
    fn random_digits_expand() {
        let mut n = 0u8;
        let t = NameTemplate::parse("K-%RAND:3%");
        assert_eq!(
            t.map(|t| t.expand("", &mut || {
                n += 1;
                n
            })),
            Ok("K-123".to_string())
        );
    }

    #[test]
    fn device_names() {
        assert!(check_device_name("CON-FIN-0042").is_empty());
        assert_eq!(check_device_name("1234").len(), 1);
        assert_eq!(check_device_name("SALES-%RAND:4%").len(), 1);
        assert_eq!(check_device_name("Zoë's PC").len(), 3);
        assert_eq!(check_device_name("ABCDEFGHIJKLMNOP").len(), 1);
    }
}
