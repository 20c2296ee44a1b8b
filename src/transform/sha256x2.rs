//! Two independent SHA-256 block compressions at once.
//!
//! With the x86 SHA extensions one instruction computes two rounds, but the next rounds
//! wait for its result, so a single block leaves the unit idle most of the time. Feeding it
//! rounds of two blocks in turn fills those gaps: pseudonyms are computed in pairs.

use sha2::block_api::compress256;

/// Compresses `a.1` into `a.0` and `b.1` into `b.0`.
pub(crate) fn compress_pair(a: (&mut [u32; 8], &[u8; 64]), b: (&mut [u32; 8], &[u8; 64])) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("sha") && std::is_x86_feature_detected!("sse4.1") {
        // SAFETY: the CPU has the features the function is compiled for.
        return unsafe { x86::compress_pair(a, b) };
    }
    compress256(a.0, std::slice::from_ref(a.1));
    compress256(b.0, std::slice::from_ref(b.1));
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// SHA-256 round constants (FIPS 180-4, 4.2.2).
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be,
        0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
        0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
        0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
        0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
        0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];

    /// One block's working state in the register layout the SHA instructions use.
    #[derive(Clone, Copy)]
    struct Lane {
        abef: __m128i,
        cdgh: __m128i,
        w: [__m128i; 4],
    }

    impl Lane {
        #[target_feature(enable = "sha,sse4.1")]
        fn load(state: &[u32; 8], block: &[u8; 64]) -> Lane {
            let s: *const __m128i = state.as_ptr().cast();
            let b: *const __m128i = block.as_ptr().cast();
            // SAFETY: both arrays are large enough for the unaligned 16-byte loads.
            let (dcba, hgfe) = unsafe { (_mm_loadu_si128(s), _mm_loadu_si128(s.add(1))) };
            let cdab = _mm_shuffle_epi32(dcba, 0xB1);
            let efgh = _mm_shuffle_epi32(hgfe, 0x1B);
            let big_endian = _mm_set_epi64x(0x0C0D_0E0F_0809_0A0B, 0x0405_0607_0001_0203);
            Lane {
                abef: _mm_alignr_epi8(cdab, efgh, 8),
                cdgh: _mm_blend_epi16(efgh, cdab, 0xF0),
                // SAFETY: as above.
                w: std::array::from_fn(|i| _mm_shuffle_epi8(unsafe { _mm_loadu_si128(b.add(i)) }, big_endian)),
            }
        }

        /// Rounds `4 * R .. 4 * R + 4`, extending the message schedule first from round 16.
        /// `R` is a constant so that the schedule stays in registers.
        #[target_feature(enable = "sha,sse4.1")]
        fn rounds4<const R: usize>(&mut self) {
            let (r, i) = (R, R % 4);
            if r >= 4 {
                let (w0, w1, w2, w3) = (self.w[i], self.w[(i + 1) % 4], self.w[(i + 2) % 4], self.w[(i + 3) % 4]);
                let t = _mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), _mm_alignr_epi8(w3, w2, 4));
                self.w[i] = _mm_sha256msg2_epu32(t, w3);
            }
            let k = _mm_set_epi32(K[4 * r + 3] as i32, K[4 * r + 2] as i32, K[4 * r + 1] as i32, K[4 * r] as i32);
            let t = _mm_add_epi32(self.w[i], k);
            self.cdgh = _mm_sha256rnds2_epu32(self.cdgh, self.abef, t);
            self.abef = _mm_sha256rnds2_epu32(self.abef, self.cdgh, _mm_shuffle_epi32(t, 0x0E));
        }

        /// Adds the rounds' result to `state`.
        #[target_feature(enable = "sha,sse4.1")]
        fn finish(self, state: &mut [u32; 8], start: &Lane) {
            let abef = _mm_add_epi32(self.abef, start.abef);
            let cdgh = _mm_add_epi32(self.cdgh, start.cdgh);
            let feba = _mm_shuffle_epi32(abef, 0x1B);
            let dchg = _mm_shuffle_epi32(cdgh, 0xB1);
            let s: *mut __m128i = state.as_mut_ptr().cast();
            // SAFETY: the state is large enough for the unaligned 16-byte stores.
            unsafe {
                _mm_storeu_si128(s, _mm_blend_epi16(feba, dchg, 0xF0));
                _mm_storeu_si128(s.add(1), _mm_alignr_epi8(dchg, feba, 8));
            }
        }
    }

    #[target_feature(enable = "sha,sse4.1")]
    pub(super) fn compress_pair(a: (&mut [u32; 8], &[u8; 64]), b: (&mut [u32; 8], &[u8; 64])) {
        let (start_a, start_b) = (Lane::load(a.0, a.1), Lane::load(b.0, b.1));
        let (mut la, mut lb) = (start_a, start_b);
        macro_rules! interleaved {
            ($($r:literal)*) => { $( la.rounds4::<$r>(); lb.rounds4::<$r>(); )* };
        }
        interleaved!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        la.finish(a.0, &start_a);
        lb.finish(b.0, &start_b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Whether this CPU runs the SHA-extension path; says so when it does not, since the
    /// property below then has nothing of its own to check.
    fn sha_extensions() -> bool {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("sha") && std::is_x86_feature_detected!("sse4.1") {
            return true;
        }
        eprintln!("skipped: this CPU has no SHA extensions, so the interleaved path cannot run");
        false
    }

    proptest! {
        #[test]
        fn the_interleaved_path_compresses_a_pair_as_two_single_blocks(
            a in prop::array::uniform8(any::<u32>()),
            b in prop::array::uniform8(any::<u32>()),
            block_a in prop::collection::vec(any::<u8>(), 64),
            block_b in prop::collection::vec(any::<u8>(), 64),
        ) {
            if !sha_extensions() {
                return Ok(());
            }
            let (block_a, block_b): ([u8; 64], [u8; 64]) = (block_a.try_into().unwrap(), block_b.try_into().unwrap());
            let (mut expected_a, mut expected_b) = (a, b);
            compress256(&mut expected_a, &[block_a]);
            compress256(&mut expected_b, &[block_b]);
            let (mut got_a, mut got_b) = (a, b);
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `sha_extensions` found the features the function is compiled for.
            unsafe {
                x86::compress_pair((&mut got_a, &block_a), (&mut got_b, &block_b));
            }
            prop_assert_eq!(got_a, expected_a);
            prop_assert_eq!(got_b, expected_b);
        }
    }
}
