//! The `map_deserialize!` macro: `Deserialize` for a struct with unknown
//! fields in `extra`, read straight from the input.
//!
//! `#[serde(flatten)]` buffers the whole object through serde's own content
//! type first, which keeps numbers only as `u64`/`i64`/`f64`: `12.50` would
//! come out as `12.5` and an [`Amount`](super::Amount) could not keep its
//! text, nor an unknown field its own. Every model struct reads its map here
//! instead: known fields by their wire names, every other one into `extra`
//! (an [`Extra`](super::Extra) of [`RawJson`](super::RawJson) values).
//! Behaviour otherwise matches serde's derive: a missing field is an error
//! unless its type is an `Option` (then `None`), and a repeated field is an
//! error. Serialization stays derived (flattening `extra` on the way out
//! writes each value straight to the serializer, without buffering).

use serde::de::{self, Deserializer, Visitor};

/// Deserializes a missing field: `None` for an `Option`, an error otherwise.
pub(crate) fn missing<'de, T: de::Deserialize<'de>, E: de::Error>(
    name: &'static str,
) -> Result<T, E> {
    T::deserialize(Missing).map_err(|_| E::missing_field(name))
}

/// A deserializer with no value: only `Option` accepts it.
struct Missing;

impl<'de> Deserializer<'de> for Missing {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("missing"))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_none()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

macro_rules! map_deserialize {
    ($ty:ident { $($field:ident => $wire:literal),+ $(,)? }) => {
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                #[allow(non_camel_case_types)]
                enum Key {
                    $($field,)+
                    Other(String),
                }

                struct KeyVisitor;
                impl ::serde::de::Visitor<'_> for KeyVisitor {
                    type Value = Key;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str("a field name")
                    }
                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<Key, E> {
                        Ok(match v {
                            $($wire => Key::$field,)+
                            other => Key::Other(other.to_owned()),
                        })
                    }
                    fn visit_string<E: ::serde::de::Error>(self, v: String) -> Result<Key, E> {
                        Ok(match v.as_str() {
                            $($wire => Key::$field,)+
                            _ => Key::Other(v),
                        })
                    }
                }

                impl<'de> ::serde::Deserialize<'de> for Key {
                    fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                        deserializer.deserialize_identifier(KeyVisitor)
                    }
                }

                struct MapVisitor;
                impl<'de> ::serde::de::Visitor<'de> for MapVisitor {
                    type Value = $ty;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(concat!("struct ", stringify!($ty)))
                    }
                    fn visit_map<A: ::serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$ty, A::Error> {
                        $(let mut $field = None;)+
                        let mut extra = $crate::model::Extra::new();
                        while let Some(__key) = map.next_key::<Key>()? {
                            match __key {
                                $(Key::$field => {
                                    if $field.is_some() {
                                        return Err(<A::Error as ::serde::de::Error>::duplicate_field($wire));
                                    }
                                    $field = Some(map.next_value()?);
                                })+
                                Key::Other(__name) => {
                                    let __value: $crate::model::RawJson = map.next_value()?;
                                    extra.insert_raw(__name, __value);
                                }
                            }
                        }
                        Ok($ty {
                            $($field: match $field {
                                Some(value) => value,
                                None => $crate::model::map_struct::missing($wire)?,
                            },)+
                            extra,
                        })
                    }
                }

                deserializer.deserialize_map(MapVisitor)
            }
        }
    };
}

pub(crate) use map_deserialize;
