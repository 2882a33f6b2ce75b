//! Prometheus' XOR chunk encoding (Gorilla: delta-of-delta timestamps, XOR'd values), decoded
//! from the chunks remote read streams. Pure; the tests carry an encoder to round-trip.

/// The bit pattern Prometheus stores when a series goes stale (not a sample: skipped, as
/// PromQL's range selectors do).
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// A chunk that ends early or says something the format cannot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad XOR chunk: {0}")]
pub struct ChunkError(&'static str);

/// A big-endian bit reader over the chunk's stream.
struct Bits<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    at: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<bool, ChunkError> {
        let byte = *self.data.get(self.at / 8).ok_or(ChunkError("ends inside a sample"))?;
        let bit = (byte >> (7 - self.at % 8)) & 1 == 1;
        self.at += 1;
        Ok(bit)
    }

    /// `n` bits (at most 64) as the low bits of a `u64`.
    fn bits(&mut self, mut n: u32) -> Result<u64, ChunkError> {
        if self.at + n as usize > self.data.len() * 8 {
            return Err(ChunkError("ends inside a sample"));
        }
        let mut value = 0u64;
        while n > 0 {
            let offset = (self.at % 8) as u32;
            let take = (8 - offset).min(n);
            let byte = u64::from(self.data[self.at / 8]);
            let part = (byte >> (8 - offset - take)) & ((1u64 << take) - 1);
            value = if take == 64 { part } else { (value << take) | part };
            self.at += take as usize;
            n -= take;
        }
        Ok(value)
    }

    fn uvarint(&mut self) -> Result<u64, ChunkError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.bits(8)?;
            value |= (byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(ChunkError("varint longer than 64 bits"))
    }

    /// Go's `binary.ReadVarint`: zig-zag.
    fn varint(&mut self) -> Result<i64, ChunkError> {
        let unsigned = self.uvarint()?;
        let value = (unsigned >> 1) as i64;
        Ok(if unsigned & 1 == 1 { !value } else { value })
    }
}

/// The XOR state of the value stream: last value bits and the last leading/trailing zeros.
struct Values {
    bits: u64,
    leading: u32,
    trailing: u32,
}

impl Values {
    fn next(&mut self, reader: &mut Bits<'_>) -> Result<u64, ChunkError> {
        if !reader.bit()? {
            return Ok(self.bits);
        }
        let significant = if reader.bit()? {
            let leading = reader.bits(5)? as u32;
            let significant = match reader.bits(6)? as u32 {
                0 => 64,
                n => n,
            };
            if leading + significant > 64 {
                return Err(ChunkError("more than 64 significant bits"));
            }
            self.leading = leading;
            self.trailing = 64 - leading - significant;
            significant
        } else {
            // Reuses the previous window of significant bits.
            64 - self.leading - self.trailing
        };
        let xor = reader.bits(significant)?;
        self.bits ^= if self.trailing >= 64 { 0 } else { xor << self.trailing };
        Ok(self.bits)
    }
}

/// Calls `sample(milliseconds, value bits)` for each sample of an XOR chunk, in order.
pub fn decode(chunk: &[u8], mut sample: impl FnMut(i64, u64)) -> Result<(), ChunkError> {
    let (count, stream) = match chunk {
        [high, low, rest @ ..] => (u16::from_be_bytes([*high, *low]), rest),
        _ => return Err(ChunkError("shorter than its 2-byte header")),
    };
    if count == 0 {
        return Ok(());
    }
    let mut reader = Bits { data: stream, at: 0 };
    let mut time = reader.varint()?;
    let mut values = Values {
        bits: reader.bits(64)?,
        leading: 0,
        trailing: 0,
    };
    sample(time, values.bits);
    if count == 1 {
        return Ok(());
    }
    let mut delta = reader.uvarint()? as i64;
    time = time.wrapping_add(delta);
    sample(time, values.next(&mut reader)?);
    for _ in 2..count {
        let mut prefix = 0u8;
        for _ in 0..4 {
            prefix <<= 1;
            if !reader.bit()? {
                break;
            }
            prefix |= 1;
        }
        let width = match prefix {
            0b0 => 0,
            0b10 => 14,
            0b110 => 17,
            0b1110 => 20,
            _ => 64,
        };
        let delta_of_delta = match width {
            0 => 0,
            64 => reader.bits(64)? as i64,
            width => {
                let raw = reader.bits(width)? as i64;
                // Two's complement in `width` bits (Prometheus' ranges are [-(2^(w-1)-1), 2^(w-1)]).
                if raw > 1 << (width - 1) {
                    raw - (1 << width)
                } else {
                    raw
                }
            }
        };
        delta = delta.wrapping_add(delta_of_delta);
        time = time.wrapping_add(delta);
        sample(time, values.next(&mut reader)?);
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Prometheus' `XORChunk` appender (tsdb/chunkenc/xor.go), written from the format.
    struct Writer {
        bytes: Vec<u8>,
        bits: usize,
    }

    impl Writer {
        fn bit(&mut self, bit: bool) {
            if self.bits.is_multiple_of(8) {
                self.bytes.push(0);
            }
            if bit {
                *self.bytes.last_mut().unwrap() |= 1 << (7 - self.bits % 8);
            }
            self.bits += 1;
        }
        fn bits(&mut self, value: u64, n: u32) {
            for i in (0..n).rev() {
                self.bit((value >> i) & 1 == 1);
            }
        }
        fn uvarint(&mut self, mut value: u64) {
            loop {
                let byte = (value & 0x7f) as u8;
                value >>= 7;
                if value == 0 {
                    self.bits(u64::from(byte), 8);
                    return;
                }
                self.bits(u64::from(byte | 0x80), 8);
            }
        }
    }

    pub(in crate::clients::prometheus) fn encode(samples: &[(i64, f64)]) -> Vec<u8> {
        let mut w = Writer {
            bytes: Vec::new(),
            bits: 0,
        };
        let (mut t, mut delta, mut v) = (0i64, 0i64, 0u64);
        let (mut leading, mut trailing) = (0xffu32, 0u32);
        for (i, &(time, value)) in samples.iter().enumerate() {
            let bits = value.to_bits();
            match i {
                0 => {
                    w.uvarint(((time << 1) ^ (time >> 63)) as u64);
                    w.bits(bits, 64);
                }
                _ => {
                    if i == 1 {
                        delta = time - t;
                        w.uvarint(delta as u64);
                    } else {
                        let new_delta = time - t;
                        let dod = new_delta - delta;
                        delta = new_delta;
                        let fits = |n: u32| -((1i64 << (n - 1)) - 1) <= dod && dod <= 1 << (n - 1);
                        if dod == 0 {
                            w.bit(false);
                        } else if fits(14) {
                            w.bits(0b10, 2);
                            w.bits(dod as u64, 14);
                        } else if fits(17) {
                            w.bits(0b110, 3);
                            w.bits(dod as u64, 17);
                        } else if fits(20) {
                            w.bits(0b1110, 4);
                            w.bits(dod as u64, 20);
                        } else {
                            w.bits(0b1111, 4);
                            w.bits(dod as u64, 64);
                        }
                    }
                    let xor = bits ^ v;
                    if xor == 0 {
                        w.bit(false);
                    } else {
                        w.bit(true);
                        let new_leading = xor.leading_zeros().min(31);
                        let new_trailing = xor.trailing_zeros();
                        if leading != 0xff && new_leading >= leading && new_trailing >= trailing {
                            w.bit(false);
                            w.bits(xor >> trailing, 64 - leading - trailing);
                        } else {
                            leading = new_leading;
                            trailing = new_trailing;
                            w.bit(true);
                            w.bits(u64::from(leading), 5);
                            let significant = 64 - leading - trailing;
                            w.bits(u64::from(significant % 64), 6);
                            w.bits(xor >> trailing, significant);
                        }
                    }
                }
            }
            t = time;
            v = bits;
        }
        let mut chunk = (samples.len() as u16).to_be_bytes().to_vec();
        chunk.extend(w.bytes);
        chunk
    }

    fn decoded(chunk: &[u8]) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        decode(chunk, |t, v| out.push((t, v))).unwrap();
        out
    }

    #[test]
    fn samples_round_trip_through_every_timestamp_and_value_branch() {
        let mut samples = vec![(1_700_000_000_000i64, 1.0f64)];
        let mut t = samples[0].0;
        // Regular steps, jitter both ways at each width, a long gap, a negative delta-of-delta.
        for (i, step) in [
            15_000, 15_000, 15_001, 14_000, 20_000, 90_000, 15_000, 2_000_000, 15_000, 1,
        ]
        .into_iter()
        .enumerate()
        {
            t += step;
            let value = match i % 5 {
                0 => samples.last().unwrap().1,
                1 => -0.0,
                2 => f64::NAN,
                3 => 1e300,
                _ => i as f64 * 0.1,
            };
            samples.push((t, value));
        }
        samples.push((t + 15_000, f64::from_bits(STALE_NAN)));
        samples.push((t + 30_000, f64::INFINITY));
        let got = decoded(&encode(&samples));
        let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn counters_and_gauges_of_120_samples_round_trip() {
        for seed in 0..20u64 {
            let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let mut next = || {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                x >> 33
            };
            let mut t = -1_000_000i64 + seed as i64;
            let mut counter = 0.0;
            let samples: Vec<(i64, f64)> = (0..120)
                .map(|_| {
                    t += 15_000 + (next() % 2_000) as i64 - 1_000;
                    counter += (next() % 100) as f64 / 8.0;
                    (
                        t,
                        if seed % 2 == 0 {
                            counter
                        } else {
                            (next() % 1000) as f64 / 3.0
                        },
                    )
                })
                .collect();
            let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
            assert_eq!(decoded(&encode(&samples)), want, "seed {seed}");
        }
    }

    #[test]
    fn truncated_chunks_are_errors_not_short_series() {
        let chunk = encode(&[(1, 1.0), (2, 2.5), (3, 7.25)]);
        for cut in 0..chunk.len() - 1 {
            assert!(decode(&chunk[..cut], |_, _| {}).is_err(), "cut at {cut}");
        }
        assert_eq!(decoded(&[0, 0]), vec![]);
    }
}
