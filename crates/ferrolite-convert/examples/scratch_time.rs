fn main() {
    for p in std::env::args().skip(1) {
        let t = std::time::Instant::now();
        let n = 50;
        for _ in 0..n {
            let c = ferrolite_convert::keras::convert_file(&p, &Default::default()).unwrap();
            let _ = ferrolite_model::write_bytes(&c.model).unwrap();
        }
        println!("{p}: {:.2} ms per conversion (read + convert + serialize)", t.elapsed().as_secs_f64() * 1e3 / n as f64);
    }
}
