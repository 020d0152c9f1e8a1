fn main() {
    for p in std::env::args().skip(1) {
        match ferrolite_convert::keras::convert_file(&p, &Default::default()) {
            Ok(c) => {
                print!("{}", c.report);
                let names: Vec<String> = c.model.subgraphs[0]
                    .operators
                    .iter()
                    .map(|o| format!("{}v{}", o.kind.name(), o.version))
                    .collect();
                println!("  ops: {:?}", names);
                let out = format!(
                    "/tmp/fc/{}.tflite",
                    std::path::Path::new(&p)
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                );
                ferrolite_model::write_file(&c.model, &out).unwrap();
            }
            Err(e) => println!("{p}: ERROR {e}"),
        }
    }
}
