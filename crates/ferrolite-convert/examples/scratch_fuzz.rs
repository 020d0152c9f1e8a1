fn main() {
    let opts = ferrolite_convert::keras::Options::default();
    let mut panics = 0;
    let mut kinds = std::collections::BTreeMap::new();
    for f in std::env::args().skip(1) {
        let data = std::fs::read(&f).unwrap();
        let mut seed = 12345u64;
        for trial in 0..400 {
            let mut d = data.clone();
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if trial % 2 == 0 {
                d.truncate((seed >> 33) as usize % d.len());
            } else {
                for _ in 0..4 {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let i = (seed >> 33) as usize % d.len();
                    d[i] ^= (seed >> 20) as u8 | 1;
                }
            }
            let r =
                std::panic::catch_unwind(|| ferrolite_convert::keras::convert_bytes(d, "f", &opts));
            match r {
                Err(_) => {
                    panics += 1;
                }
                Ok(Ok(_)) => *kinds.entry("ok".to_string()).or_insert(0) += 1,
                Ok(Err(e)) => {
                    *kinds
                        .entry(
                            format!("{:?}", e)
                                .split([' ', '{', '('])
                                .next()
                                .unwrap()
                                .to_string(),
                        )
                        .or_insert(0) += 1
                }
            }
        }
    }
    println!("panics {panics} {kinds:?}");
}
