//! `Record<'a>`: the typed subset of a CloudTrail event that trailscan reads, borrowed from the input
//! buffer. Every field is optional and lenient: a field of the wrong JSON type (a number where a string
//! belongs, an object where an ARN belongs) reads as absent instead of failing the record or the file, and
//! a repeated key keeps its last value. Unknown fields are skipped without allocating. That is what lets
//! one hostile or odd record cost only itself (see `cloudtrail-sts.md` §6: every field is optional and types drift).

use crate::json_cursor::{Cursor, Miss};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// A JSON scalar read as text: strings are borrowed when they hold no escapes, booleans and numbers are
/// kept as their text, and `null`, objects and arrays read as absent. Empty strings read as absent too,
/// because CloudTrail writes `"accessKeyId": ""` where there is no key.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Text<'a>(pub Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }
    pub fn is(&self, v: &str) -> bool {
        self.get() == Some(v)
    }
    pub fn is_true(&self) -> bool {
        self.get().is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
    pub fn owned(&self) -> Option<String> {
        self.get().map(str::to_owned)
    }
    /// The value interned: for text that repeats across records (roles, accounts, agents, addresses).
    pub fn interned(&self) -> Option<crate::intern::Text> {
        self.get().map(crate::intern::Text::new)
    }
    /// The value owned, without spare capacity: for text that is new in nearly every record.
    pub fn boxed(&self) -> Option<Box<str>> {
        self.get().map(Into::into)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON scalar")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v))))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(if v { "true" } else { "false" }))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// Whether a field holds anything but `null` (used for `policy`, `policyArns`: we note their presence only).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Present(pub bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Present;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Present, E> {
                Ok(Present(true))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Present, E> {
                Ok(Present(true))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Present, E> {
                Ok(Present(true))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Present, E> {
                Ok(Present(true))
            }
            fn visit_str<E>(self, v: &str) -> Result<Present, E> {
                Ok(Present(!v.is_empty()))
            }
            fn visit_unit<E>(self) -> Result<Present, E> {
                Ok(Present(false))
            }
            fn visit_none<E>(self) -> Result<Present, E> {
                Ok(Present(false))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Present, A::Error> {
                let mut any = false;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    any = true;
                }
                Ok(Present(any))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Present, A::Error> {
                let mut any = false;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                    any = true;
                }
                Ok(Present(any))
            }
        }
        d.deserialize_any(V)
    }
}

/// An object key, borrowed unless it holds escapes.
pub struct Key<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Reads a value from a [`Cursor`] into place: the fast path for `Records` deliveries (`delivery.rs`). It
/// gives exactly what [`Fill`] gives, or [`Miss`] when it leaves the value to serde_json.
pub trait Scan<'a> {
    fn scan(&mut self, c: &mut Cursor<'a>) -> Result<(), Miss>;
}

impl<'a> Scan<'a> for Text<'a> {
    fn scan(&mut self, c: &mut Cursor<'a>) -> Result<(), Miss> {
        self.0 = match c.peek()? {
            b'"' => {
                let start = c.pos();
                let (raw, escaped) = c.raw_string()?;
                if escaped {
                    c.rewind(start);
                    c.by_serde::<Text>()?.0
                } else {
                    Some(Cow::Borrowed(raw))
                }
            }
            b't' => c.literal("true").map(|_| Some(Cow::Borrowed("true")))?,
            b'f' => c.literal("false").map(|_| Some(Cow::Borrowed("false")))?,
            b'n' => c.literal("null").map(|_| None)?,
            b'{' | b'[' => c.skip().map(|_| None)?,
            // A number: serde_json decides its text (and refuses one out of range).
            _ => c.by_serde::<Text>()?.0,
        };
        Ok(())
    }
}

impl<'a> Scan<'a> for Present {
    fn scan(&mut self, c: &mut Cursor<'a>) -> Result<(), Miss> {
        *self = match c.peek()? {
            b'"' | b'{' | b'[' | b'n' => Present(c.skip_present()?),
            _ => c.by_serde()?,
        };
        Ok(())
    }
}

impl<'a, T: Deserialize<'a>> Scan<'a> for List<T> {
    /// Selector lists appear only in `PutEventSelectors`: serde_json reads them.
    fn scan(&mut self, c: &mut Cursor<'a>) -> Result<(), Miss> {
        *self = c.by_serde()?;
        Ok(())
    }
}

impl<'a> Scan<'a> for Resources<'a> {
    fn scan(&mut self, c: &mut Cursor<'a>) -> Result<(), Miss> {
        *self = Resources::default();
        match c.peek()? {
            b'[' => c.array(|c| {
                let mut r = Resource::default();
                r.scan(c)?;
                if self.role_arn.get().is_none() && r.kind.is("AWS::IAM::Role") {
                    self.role_arn = r.arn;
                }
                Ok(())
            }),
            b'"' | b'{' | b't' | b'f' | b'n' => c.skip(),
            _ => {
                *self = c.by_serde()?;
                Ok(())
            }
        }
    }
}

/// Deserialises into an existing value instead of returning a new one. A `Record` is about 1.5 KB of
/// nested structs: filling it in place, field by field, saves moving each level of it once per record.
/// Filling first resets the value, so a repeated key still keeps only its last value.
pub trait Fill<'de> {
    fn fill<D: Deserializer<'de>>(&mut self, d: D) -> Result<(), D::Error>;
}

/// A seed that fills a field (or a reused `Record`) in place.
pub struct Place<'p, T>(pub &'p mut T);

impl<'de, 'p, T: Fill<'de>> serde::de::DeserializeSeed<'de> for Place<'p, T> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.0.fill(d)
    }
}

/// Types small enough to fill by assigning a freshly deserialised value.
macro_rules! fill_by_value {
    ($($ty:ty),*) => {$(
        impl<'de: 'a, 'a> Fill<'de> for $ty {
            fn fill<D: Deserializer<'de>>(&mut self, d: D) -> Result<(), D::Error> {
                *self = Deserialize::deserialize(d)?;
                Ok(())
            }
        }
    )*};
}

fill_by_value!(Text<'a>, Present, Resources<'a>);

impl<'de, T: Deserialize<'de>> Fill<'de> for List<T> {
    fn fill<D: Deserializer<'de>>(&mut self, d: D) -> Result<(), D::Error> {
        *self = List::deserialize(d)?;
        Ok(())
    }
}

/// Visitor methods that read every JSON scalar but a string as nothing (`Value = ()`): `null`, booleans
/// and numbers (serde_json still checks a number is in range before it calls them).
macro_rules! ignore_scalars {
    () => {
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_none<E>(self) -> Result<(), E> {
            Ok(())
        }
    };
}
pub(crate) use ignore_scalars;

/// Visitor methods for filling in place: every non-object value leaves the reset value (absent).
macro_rules! absent_unless_object {
    () => {
        ignore_scalars!();
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(())
        }
    };
}

/// Declares a lenient borrowed struct: listed JSON keys map to fields, anything else is skipped, a
/// non-object value reads as all-absent.
macro_rules! lenient_struct {
    ($(#[$meta:meta])* $name:ident { $($json:literal => $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Clone)]
        pub struct $name<'a> {
            $(pub $field: $ty,)*
            _borrow: PhantomData<&'a ()>,
        }

        impl<'a> $name<'a> {
            /// Reads the value at the cursor into the field of `key`, the fast path's [`Self::read_field`].
            pub fn scan_field(&mut self, key: &str, c: &mut Cursor<'a>) -> Result<bool, Miss> {
                match key {
                    $($json => {
                        self.$field.scan(c)?;
                        Ok(true)
                    })*
                    _ => Ok(false),
                }
            }

            /// Reads the value of `key` into its field; `false` (value not consumed) for keys this type does not know.
            pub fn read_field<'de: 'a, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
                match key {
                    $($json => {
                        map.next_value_seed(Place(&mut self.$field))?;
                        Ok(true)
                    })*
                    _ => Ok(false),
                }
            }
        }

        impl<'de: 'a, 'a> Deserialize<'de> for $name<'a> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let mut out = $name::default();
                out.fill(d)?;
                Ok(out)
            }
        }

        impl<'a> Scan<'a> for $name<'a> {
            fn scan(&mut self, c: &mut Cursor<'a>) -> Result<(), Miss> {
                *self = Default::default();
                match c.peek()? {
                    b'{' => c.object(|c, key| if self.scan_field(key, c)? { Ok(()) } else { c.skip() }),
                    b'"' | b'[' | b't' | b'f' | b'n' => c.skip(),
                    // A number: serde_json parses it (and refuses one out of range) before finding it absent.
                    _ => {
                        *self = c.by_serde()?;
                        Ok(())
                    }
                }
            }
        }

        impl<'de: 'a, 'a> Fill<'de> for $name<'a> {
            fn fill<D: Deserializer<'de>>(&mut self, d: D) -> Result<(), D::Error> {
                struct V<'p, 'a>(&'p mut $name<'a>);
                impl<'de: 'a, 'a, 'p> Visitor<'de> for V<'p, 'a> {
                    type Value = ();
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str(concat!("a ", stringify!($name), " object"))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
                        while let Some(key) = map.next_key::<Key<'de>>()? {
                            if !self.0.read_field(&key.0, &mut map)? {
                                map.next_value::<IgnoredAny>()?;
                            }
                        }
                        Ok(())
                    }
                    absent_unless_object!();
                }
                *self = Default::default();
                d.deserialize_any(V(self))
            }
        }
    };
}

lenient_struct!(
    /// One CloudTrail event, reduced to what session reconstruction needs.
    Record {
        "eventTime" => event_time: Text<'a>,
        "@timestamp" => alt_time: Text<'a>,
        "eventSource" => event_source: Text<'a>,
        "eventName" => event_name: Text<'a>,
        "awsRegion" => region: Text<'a>,
        "sourceIPAddress" => source_ip: Text<'a>,
        "userAgent" => user_agent: Text<'a>,
        "errorCode" => error_code: Text<'a>,
        "errorMessage" => error_message: Text<'a>,
        "requestID" => request_id: Text<'a>,
        "eventID" => event_id: Text<'a>,
        "sharedEventID" => shared_event_id: Text<'a>,
        "recipientAccountId" => recipient_account: Text<'a>,
        "eventType" => event_type: Text<'a>,
        "sessionCredentialFromConsole" => from_console: Text<'a>,
        "userIdentity" => identity: Identity<'a>,
        "requestParameters" => request: Request<'a>,
        "responseElements" => response: Response<'a>,
        "additionalEventData" => additional: Additional<'a>,
        "resources" => resources: Resources<'a>,
    }
);

lenient_struct!(
    /// `userIdentity`: who made the call.
    Identity {
        "type" => kind: Text<'a>,
        "principalId" => principal_id: Text<'a>,
        "arn" => arn: Text<'a>,
        "accountId" => account_id: Text<'a>,
        "accessKeyId" => access_key_id: Text<'a>,
        "userName" => user_name: Text<'a>,
        "invokedBy" => invoked_by: Text<'a>,
        "identityProvider" => identity_provider: Text<'a>,
        "sessionContext" => session: SessionContext<'a>,
    }
);

lenient_struct!(
    /// `userIdentity.sessionContext`.
    SessionContext {
        "sessionIssuer" => issuer: Issuer<'a>,
        "attributes" => attributes: Attributes<'a>,
        "sourceIdentity" => source_identity: Text<'a>,
        "ec2RoleDelivery" => ec2_role_delivery: Text<'a>,
        "assumedRoot" => assumed_root: Text<'a>,
    }
);

lenient_struct!(
    /// `sessionContext.sessionIssuer`: the role, user or root that issued a session.
    Issuer {
        "type" => kind: Text<'a>,
        "principalId" => principal_id: Text<'a>,
        "arn" => arn: Text<'a>,
        "accountId" => account_id: Text<'a>,
        "userName" => user_name: Text<'a>,
    }
);

lenient_struct!(
    /// `sessionContext.attributes`.
    Attributes {
        "creationDate" => creation_date: Text<'a>,
        "mfaAuthenticated" => mfa_authenticated: Text<'a>,
    }
);

lenient_struct!(
    /// `requestParameters` of the STS calls.
    Request {
        "roleArn" => role_arn: Text<'a>,
        "roleSessionName" => role_session_name: Text<'a>,
        "durationSeconds" => duration_seconds: Text<'a>,
        "externalId" => external_id: Text<'a>,
        "serialNumber" => serial_number: Text<'a>,
        "sourceIdentity" => source_identity: Text<'a>,
        "policy" => policy: Present,
        "policyArns" => policy_arns: Present,
        "principalArn" => principal_arn: Text<'a>,
        "name" => name: Text<'a>,
        "targetPrincipal" => target_principal: Text<'a>,
        "eventSelectors" => event_selectors: List<EventSelector<'a>>,
        "advancedEventSelectors" => advanced_event_selectors: List<AdvancedEventSelector<'a>>,
    }
);

lenient_struct!(
    /// `responseElements` of the STS calls and of sign-in events.
    Response {
        "credentials" => credentials: Credentials<'a>,
        "assumedRoleUser" => assumed_role_user: AssumedRoleUser<'a>,
        "federatedUser" => federated_user: AssumedRoleUser<'a>,
        "sourceIdentity" => source_identity: Text<'a>,
        "subject" => subject: Text<'a>,
        "subjectFromWebIdentityToken" => subject_from_web_identity_token: Text<'a>,
        "provider" => provider: Text<'a>,
        "SwitchRole" => switch_role: Text<'a>,
        "ConsoleLogin" => console_login: Text<'a>,
    }
);

lenient_struct!(
    /// `responseElements.credentials`. The session token is deliberately not read: trailscan never holds it.
    Credentials {
        "accessKeyId" => access_key_id: Text<'a>,
        "expiration" => expiration: Text<'a>,
    }
);

lenient_struct!(
    /// `responseElements.assumedRoleUser` (and `federatedUser`, whose id field differs).
    AssumedRoleUser {
        "assumedRoleId" => assumed_role_id: Text<'a>,
        "federatedUserId" => federated_user_id: Text<'a>,
        "arn" => arn: Text<'a>,
    }
);

lenient_struct!(
    /// `additionalEventData` of sign-in events, and of AssumeRole (`explicitTrustGrant`).
    Additional {
        "SwitchFrom" => switch_from: Text<'a>,
        "MFAUsed" => mfa_used: Text<'a>,
        "explicitTrustGrant" => explicit_trust_grant: Text<'a>,
    }
);

lenient_struct!(
    /// One entry of `resources[]` (note the upper-case `ARN`).
    Resource {
        "ARN" => arn: Text<'a>,
        "type" => kind: Text<'a>,
    }
);

/// `resources[]`, reduced to the first IAM role it names, without allocating a vector.
#[derive(Debug, Default, Clone)]
pub struct Resources<'a> {
    pub role_arn: Text<'a>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Resources<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Resources<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a resources array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Resources::default();
                while let Some(r) = seq.next_element::<Resource<'a>>()? {
                    if out.role_arn.get().is_none() && r.kind.is("AWS::IAM::Role") {
                        out.role_arn = r.arn;
                    }
                }
                Ok(out)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Resources::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Default::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Default::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Default::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Default::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Default::default())
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Default::default())
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A JSON array read leniently: `None` when the value is absent, `null` or not an array; elements are
/// read with `T`'s own leniency.
#[derive(Debug, Clone, PartialEq)]
pub struct List<T>(pub Option<Vec<T>>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<T>()? {
                    out.push(v);
                }
                Ok(List(Some(out)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(List(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(List(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(List(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(List(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(List(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(List(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(List(None))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

lenient_struct!(
    /// One basic event selector of `PutEventSelectors`.
    EventSelector {
        "readWriteType" => read_write_type: Text<'a>,
        "includeManagementEvents" => include_management_events: Text<'a>,
        "excludeManagementEventSources" => exclude_management_event_sources: Present,
    }
);

lenient_struct!(
    /// One advanced event selector of `PutEventSelectors`.
    AdvancedEventSelector {
        "fieldSelectors" => field_selectors: List<FieldSelector<'a>>,
    }
);

lenient_struct!(
    /// One condition of an advanced event selector.
    FieldSelector {
        "field" => field: Text<'a>,
        "equals" => equals: List<Text<'a>>,
        "notEquals" => not_equals: Present,
        "startsWith" => starts_with: Present,
        "notStartsWith" => not_starts_with: Present,
        "endsWith" => ends_with: Present,
        "notEndsWith" => not_ends_with: Present,
    }
);

/// How much of one kind of management event (reads or writes) a trail's selectors still log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Coverage {
    #[default]
    None,
    /// Only some event sources.
    Some,
    All,
}

/// What a `PutEventSelectors` request leaves of management-event logging. This is what tells a routine
/// change (adding S3 data events) from blinding the trail (`includeManagementEvents: false`, read-only
/// selectors, excluded event sources); both selector styles reduce to it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ManagementLogging {
    pub reads: Coverage,
    pub writes: Coverage,
}

impl ManagementLogging {
    /// Whether some management events the trail could log are no longer logged.
    pub fn drops_management_events(&self) -> bool {
        self.reads != Coverage::All || self.writes != Coverage::All
    }

    fn add(&mut self, reads: bool, writes: bool, coverage: Coverage) {
        if reads {
            self.reads = self.reads.max(coverage);
        }
        if writes {
            self.writes = self.writes.max(coverage);
        }
    }
}

impl Request<'_> {
    /// The management logging a `PutEventSelectors` request sets; `None` when it names no selectors.
    pub fn management_logging(&self) -> Option<ManagementLogging> {
        let (basic, advanced) = (self.event_selectors.0.as_deref(), self.advanced_event_selectors.0.as_deref());
        if basic.is_none() && advanced.is_none() {
            return None;
        }
        let mut out = ManagementLogging::default();
        for sel in basic.unwrap_or_default() {
            // The API's defaults: management events included, reads and writes.
            let included = sel.include_management_events.get().is_none_or(|v| v.eq_ignore_ascii_case("true"));
            if !included {
                continue;
            }
            let rw = sel.read_write_type.get().unwrap_or("All");
            let coverage = if sel.exclude_management_event_sources.0 { Coverage::Some } else { Coverage::All };
            out.add(rw != "WriteOnly", rw != "ReadOnly", coverage);
        }
        for sel in advanced.unwrap_or_default() {
            let fields = sel.field_selectors.0.as_deref().unwrap_or_default();
            let equals = |f: &FieldSelector| -> Vec<String> {
                f.equals.0.iter().flatten().filter_map(|t| t.get().map(str::to_ascii_lowercase)).collect()
            };
            let management = fields.iter().any(|f| {
                f.field.get().is_some_and(|n| n.eq_ignore_ascii_case("eventCategory"))
                    && equals(f).iter().any(|v| v == "management")
            });
            if !management {
                continue;
            }
            let (mut reads, mut writes, mut coverage) = (true, true, Coverage::All);
            for f in fields {
                match f.field.get().unwrap_or("") {
                    n if n.eq_ignore_ascii_case("eventCategory") => {}
                    n if n.eq_ignore_ascii_case("readOnly") => {
                        let v = equals(f);
                        if v.len() == 1 {
                            reads = v[0] == "true";
                            writes = v[0] == "false";
                        }
                    }
                    // Any other condition (eventSource is the one CloudTrail allows) narrows what is logged.
                    _ => coverage = Coverage::Some,
                }
            }
            out.add(reads, writes, coverage);
        }
        Some(out)
    }
}

impl Record<'_> {
    /// Whether this object is a CloudTrail event rather than a wrapper or some other document.
    pub fn looks_like_event(&self) -> bool {
        self.event_name.get().is_some() && (self.event_source.get().is_some() || self.event_time.get().is_some())
    }

    /// `eventTime`, or the `@timestamp` Logstash exports put in its place.
    pub fn time_text(&self) -> Option<&str> {
        self.event_time.get().or_else(|| self.alt_time.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_reads_scalars_as_serde_does() {
        for json in
            [r#""plain""#, r#""es\"caped""#, r#""""#, "12", "-3", "1.5", "2e3", "true", "null", r#"{"x":1}"#, "[1]"]
        {
            let mut fast = Text::default();
            fast.scan(&mut Cursor::new(json)).unwrap();
            assert_eq!(fast, serde_json::from_str::<Text>(json).unwrap(), "{json}");
        }
        assert_eq!(Text::default().scan(&mut Cursor::new("1e400")), Err(Miss));
    }

    #[test]
    fn wrong_types_read_as_absent() {
        let json = r#"{"eventTime": 5, "eventName": "AssumeRole", "eventSource": ["x"],
            "userIdentity": "oops", "requestParameters": {"roleArn": {"a": 1}, "durationSeconds": 900,
            "roleSessionName": "s\u0031"}, "readOnly": "true", "resources": {"ARN": "x"}}"#;
        let r: Record = serde_json::from_str(json).unwrap();
        assert_eq!(r.event_time.get(), Some("5"));
        assert_eq!(r.event_source.get(), None);
        assert_eq!(r.identity.arn.get(), None);
        assert_eq!(r.request.role_arn.get(), None);
        assert_eq!(r.request.duration_seconds.get(), Some("900"));
        assert_eq!(r.request.role_session_name.get(), Some("s1"));
        assert_eq!(r.resources.role_arn.get(), None);
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        let r: Record = serde_json::from_str(r#"{"eventName":"A","eventName":"B"}"#).unwrap();
        assert_eq!(r.event_name.get(), Some("B"));
    }

    #[test]
    fn strings_are_borrowed_without_escapes() {
        let json = r#"{"eventName":"AssumeRole"}"#.to_string();
        let r: Record = serde_json::from_str(&json).unwrap();
        assert!(matches!(r.event_name.0, Some(Cow::Borrowed(_))));
    }

    #[test]
    fn event_selectors_tell_routine_changes_from_blinding() {
        let cases = [
            // Stratus red team's cloudtrail-event-selectors: management events off, data events on.
            (
                r#"{"eventSelectors":[{"dataResources":[{"type":"AWS::S3::Object","values":[]}],"excludeManagementEventSources":[],"includeManagementEvents":false,"readWriteType":"ReadOnly"}]}"#,
                Some(true),
            ),
            (
                r#"{"eventSelectors":[{"dataResources":[],"excludeManagementEventSources":[],"includeManagementEvents":true,"readWriteType":"All"}]}"#,
                Some(false),
            ),
            (r#"{"eventSelectors":[{"readWriteType":"WriteOnly"}]}"#, Some(true)),
            (
                r#"{"eventSelectors":[{"includeManagementEvents":true,"excludeManagementEventSources":["kms.amazonaws.com"]}]}"#,
                Some(true),
            ),
            (r#"{"eventSelectors":[{"readWriteType":"ReadOnly"},{"readWriteType":"WriteOnly"}]}"#, Some(false)),
            (r#"{"eventSelectors":[]}"#, Some(true)),
            (
                r#"{"advancedEventSelectors":[{"name":"m","fieldSelectors":[{"field":"eventCategory","equals":["Management"]}]}]}"#,
                Some(false),
            ),
            (
                r#"{"advancedEventSelectors":[{"fieldSelectors":[{"field":"eventCategory","equals":["Management"]},{"field":"readOnly","equals":["true"]}]}]}"#,
                Some(true),
            ),
            (
                r#"{"advancedEventSelectors":[{"fieldSelectors":[{"field":"eventCategory","equals":["Management"]},{"field":"eventSource","notEquals":["kms.amazonaws.com"]}]}]}"#,
                Some(true),
            ),
            (
                r#"{"advancedEventSelectors":[{"fieldSelectors":[{"field":"eventCategory","equals":["Data"]},{"field":"resources.type","equals":["AWS::S3::Object"]}]}]}"#,
                Some(true),
            ),
            (r#"{"trailName":"t"}"#, None),
            (r#"{"eventSelectors":"oops","advancedEventSelectors":{"a":1}}"#, None),
        ];
        for (json, drops) in cases {
            let r: Request = serde_json::from_str(json).unwrap();
            assert_eq!(r.management_logging().map(|m| m.drops_management_events()), drops, "{json}");
        }
    }

    #[test]
    fn resources_keep_the_first_role() {
        let r: Record = serde_json::from_str(
            r#"{"resources":[{"ARN":"arn:aws:iam::1:saml-provider/x","type":"AWS::IAM::SAMLProvider"},
                {"ARN":"arn:aws:iam::1:role/r","type":"AWS::IAM::Role"}]}"#,
        )
        .unwrap();
        assert_eq!(r.resources.role_arn.get(), Some("arn:aws:iam::1:role/r"));
    }
}
