//! The field readers of [`super`]'s payload shapes: ids as `u64` from a number, a numeric
//! string or a gid, never through a float; quantities as `i64`; text, flags, objects and lists
//! of objects each of their own JSON type. Missing or `null` is `None` (or empty); any other type,
//! or a value that does not parse, is refused with one of the fixed texts in [`Invalid`].

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::Invalid;

/// Reads an id text: digits, or a GraphQL id ending in digits.
pub fn id_from_text(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = match text.strip_prefix("gid://shopify/") {
        Some(rest) => rest.rsplit('/').next()?,
        None => text,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Reads a quantity text: an optional sign and digits.
pub fn quantity_from_text(text: &str) -> Option<i64> {
    let text = text.trim();
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Drains a map or sequence the reader refuses, so the error is the reader's and not serde's.
fn refuse<E: de::Error, T>(message: &'static str) -> Result<T, E> {
    Err(E::custom(message))
}

struct IdVisitor;

impl<'de> Visitor<'de> for IdVisitor {
    type Value = Option<u64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Invalid::ID)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        u64::try_from(v).map(Some).or_else(|_| refuse(Invalid::ID))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        refuse(Invalid::ID)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        refuse(Invalid::ID)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        id_from_text(v)
            .map(Some)
            .ok_or_else(|| E::custom(Invalid::ID))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        refuse(Invalid::ID)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        refuse(Invalid::ID)
    }
}

/// An id, or `None` when missing or `null`.
pub(super) fn flex_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_option(IdVisitor)
}

struct QuantityVisitor;

impl<'de> Visitor<'de> for QuantityVisitor {
    type Value = Option<i64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Invalid::QUANTITY)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(Some)
            .or_else(|_| refuse(Invalid::QUANTITY))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        refuse(Invalid::QUANTITY)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        refuse(Invalid::QUANTITY)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        quantity_from_text(v)
            .map(Some)
            .ok_or_else(|| E::custom(Invalid::QUANTITY))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        refuse(Invalid::QUANTITY)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        refuse(Invalid::QUANTITY)
    }
}

/// A quantity, or `None` when missing or `null`.
pub(super) fn flex_qty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_option(QuantityVisitor)
}

/// A string, or `None` when missing or `null`; any other type is refused.
pub(super) fn flex_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(Invalid::TEXT)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            refuse(Invalid::TEXT)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            refuse(Invalid::TEXT)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            refuse(Invalid::TEXT)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            refuse(Invalid::TEXT)
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            refuse(Invalid::TEXT)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            refuse(Invalid::TEXT)
        }
    }
    d.deserialize_option(V)
}

/// `true`, `false`, or `None` when missing or `null`; any other type is refused.
pub(super) fn flex_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(Invalid::FLAG)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            refuse(Invalid::FLAG)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            refuse(Invalid::FLAG)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            refuse(Invalid::FLAG)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            refuse(Invalid::FLAG)
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            refuse(Invalid::FLAG)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            refuse(Invalid::FLAG)
        }
    }
    d.deserialize_option(V)
}

/// A value that must be a JSON object (an array would be read by position).
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(Invalid::OBJECT)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Object)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
                refuse(Invalid::OBJECT)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                refuse(Invalid::OBJECT)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                refuse(Invalid::OBJECT)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                refuse(Invalid::OBJECT)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                refuse(Invalid::OBJECT)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                refuse(Invalid::OBJECT)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                refuse(Invalid::OBJECT)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// An array of objects, or with `single` also one object; `null` or missing is empty, anything
/// else is refused.
struct ObjectList<T> {
    single: bool,
    item: PhantomData<T>,
}

impl<T> ObjectList<T> {
    fn expected(&self) -> &'static str {
        if self.single {
            Invalid::OBJECTS
        } else {
            Invalid::LIST
        }
    }

    fn refuse<E: de::Error>(&self) -> Result<Vec<T>, E> {
        refuse(self.expected())
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectList<T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Object(item)) = seq.next_element::<Object<T>>()? {
            out.push(item);
        }
        Ok(out)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        if !self.single {
            return self.refuse();
        }
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|item| vec![item])
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        self.refuse()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        self.refuse()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        self.refuse()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        self.refuse()
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        self.refuse()
    }
}

/// An array of objects; `null` or missing is empty, anything else is refused.
pub(super) fn nullable_vec<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    d.deserialize_option(ObjectList {
        single: false,
        item: PhantomData,
    })
}

/// One object or an array of them (Shopify's example of `fulfillment_orders/merged` shows one
/// `fulfillment_order_merges` object, its Admin API a list); `null` or missing is empty.
pub(super) fn one_or_many<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    d.deserialize_option(ObjectList {
        single: true,
        item: PhantomData,
    })
}

/// An optional object; `null` or missing is `None`.
pub(super) fn nullable_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Ok(Option::<Object<T>>::deserialize(d)?.map(|Object(t)| t))
}

/// Reads a whole payload, which must be a JSON object.
pub fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice::<Object<T>>(body).map(|Object(t)| t)
}
