//! Long-tail formats through libvips: HEIF/HEIC, AVIF, JPEG XL and TIFF in, JPEG XL out.
//!
//! HEIC, JPEG XL and multi-page TIFF fixtures are made at test time from corpus photos with the
//! `vips` command (libvips-tools) and `heif-enc` (libheif-examples); where a tool or the corpus
//! is missing the test says SKIPPED. Without the `vips` feature only the last test runs: those
//! formats must answer `unsupported_format` naming the feature.

use crate::common;

#[cfg(feature = "vips")]
mod with_vips {
    use super::common;
    use picsmith::{ErrorKind, Format, Limits, Options};
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn process(input: &[u8], query: &str) -> picsmith::Result<picsmith::Output> {
        picsmith::process(input, query, &Options::default())
    }

    /// A fresh directory for one test's fixtures.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("picsmith-vips-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Runs a fixture tool; `None` (with a visible SKIPPED line) when it is not installed.
    /// A run killed by a signal is tried again: Debian's `vips` 8.14 command crashes now and
    /// then (SIGSEGV in about one run of seven of `vips cast` here), which says nothing about
    /// picsmith. A failure with an exit status is not retried.
    fn tool(program: &str, args: &[&str]) -> Option<()> {
        let run = || Command::new(program).args(args).output();
        let mut result = run();
        for _ in 0..3 {
            match &result {
                Ok(out) if out.status.code().is_none() => result = run(),
                _ => break,
            }
        }
        match result {
            Ok(out) if out.status.success() => Some(()),
            Ok(out) => panic!(
                "{program} {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(_) => {
                eprintln!("SKIPPED: {program} is not installed (libvips-tools, libheif-examples)");
                None
            }
        }
    }

    fn corpus_path(name: &str) -> Option<PathBuf> {
        let path = common::corpus_dir().join(name);
        if path.exists() {
            Some(path)
        } else {
            eprintln!(
                "SKIPPED: corpus file {} is absent (set PICSMITH_CORPUS)",
                path.display()
            );
            None
        }
    }

    fn s(path: &Path) -> &str {
        path.to_str().unwrap()
    }

    fn decode(bytes: &[u8]) -> image::DynamicImage {
        image::load_from_memory(bytes).expect("output decodes")
    }

    /// Mean absolute difference per channel (0-255) of two RGB images of the same size.
    fn mean_diff(a: &image::DynamicImage, b: &image::DynamicImage) -> f64 {
        let (a, b) = (a.to_rgb8(), b.to_rgb8());
        assert_eq!(a.dimensions(), b.dimensions());
        let sum: u64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum();
        sum as f64 / a.as_raw().len() as f64
    }

    /// Adds an `irot` property (`angle` × 90° anticlockwise) to the primary item of a HEIF file,
    /// as cameras write it: the pixels stay as stored and the container says how to turn them.
    /// Box sizes grow and the item locations after the `meta` box move by the bytes added.
    fn add_irot(heif: &[u8], angle: u8) -> Vec<u8> {
        fn be(bytes: &[u8]) -> u64 {
            bytes.iter().fold(0, |n, &b| n << 8 | u64::from(b))
        }
        fn put(out: &mut [u8], value: u64) {
            let n = out.len();
            for (i, b) in out.iter_mut().enumerate() {
                *b = (value >> (8 * (n - 1 - i))) as u8;
            }
        }
        /// (start, size, type) of the boxes in `range`.
        fn children(data: &[u8], mut at: usize, end: usize) -> Vec<(usize, usize, [u8; 4])> {
            let mut found = Vec::new();
            while at + 8 <= end {
                let size = be(&data[at..at + 4]) as usize;
                found.push((at, size, data[at + 4..at + 8].try_into().unwrap()));
                at += size;
            }
            found
        }
        let find = |list: &[(usize, usize, [u8; 4])], kind: &[u8; 4]| {
            *list
                .iter()
                .find(|(_, _, k)| k == kind)
                .expect("box present")
        };
        let top = children(heif, 0, heif.len());
        let (meta, meta_size, _) = find(&top, b"meta");
        let in_meta = children(heif, meta + 12, meta + meta_size);
        let (pitm, _, _) = find(&in_meta, b"pitm");
        let primary = be(&heif[pitm + 12..pitm + 14]);
        let (iprp, iprp_size, _) = find(&in_meta, b"iprp");
        let in_iprp = children(heif, iprp + 8, iprp + iprp_size);
        let (ipco, ipco_size, _) = find(&in_iprp, b"ipco");
        let (ipma, ipma_size, _) = find(&in_iprp, b"ipma");
        let property = children(heif, ipco + 8, ipco + ipco_size).len() as u64 + 1;

        // The new ipma: one more association for the primary item, marked essential.
        let (version, flags) = (heif[ipma + 8], heif[ipma + 11]);
        let id_len = if version < 1 { 2 } else { 4 };
        let assoc_len = if flags & 1 == 1 { 2 } else { 1 };
        let mut new_ipma = heif[ipma..ipma + 16].to_vec();
        let mut at = ipma + 16;
        for _ in 0..be(&heif[ipma + 12..ipma + 16]) {
            let id = be(&heif[at..at + id_len]);
            let count = heif[at + id_len] as usize;
            let body = at + id_len + 1;
            new_ipma.extend_from_slice(&heif[at..at + id_len]);
            if id == primary {
                new_ipma.push(count as u8 + 1);
                new_ipma.extend_from_slice(&heif[body..body + count * assoc_len]);
                if assoc_len == 1 {
                    new_ipma.push(0x80 | property as u8);
                } else {
                    new_ipma.extend_from_slice(&(0x8000 | property as u16).to_be_bytes());
                }
            } else {
                new_ipma.push(count as u8);
                new_ipma.extend_from_slice(&heif[body..body + count * assoc_len]);
            }
            at = body + count * assoc_len;
        }
        assert_eq!(at, ipma + ipma_size);
        let n = new_ipma.len() as u64;
        put(&mut new_ipma[0..4], n);
        let irot = [0, 0, 0, 9, b'i', b'r', b'o', b't', angle];
        let delta = (new_ipma.len() - ipma_size + irot.len()) as u64;

        // Reassemble meta with the grown ipco and ipma.
        let mut out = heif[..meta].to_vec();
        out.extend_from_slice(&heif[meta..meta + 12]);
        for &(start, size, kind) in &in_meta {
            if &kind != b"iprp" {
                out.extend_from_slice(&heif[start..start + size]);
                continue;
            }
            let mut new_iprp = heif[start..start + 8].to_vec();
            for &(child, child_size, child_kind) in &in_iprp {
                match &child_kind {
                    b"ipco" => {
                        let mut new_ipco = heif[child..child + child_size].to_vec();
                        new_ipco.extend_from_slice(&irot);
                        let n = new_ipco.len() as u64;
                        put(&mut new_ipco[0..4], n);
                        new_iprp.extend_from_slice(&new_ipco);
                    }
                    b"ipma" => new_iprp.extend_from_slice(&new_ipma),
                    _ => new_iprp.extend_from_slice(&heif[child..child + child_size]),
                }
            }
            let n = new_iprp.len() as u64;
            put(&mut new_iprp[0..4], n);
            out.extend_from_slice(&new_iprp);
        }
        put(&mut out[meta..meta + 4], meta_size as u64 + delta);
        out.extend_from_slice(&heif[meta + meta_size..]);

        // Item data after meta moved by `delta`: shift the file offsets in iloc.
        let in_new_meta = children(&out, meta + 12, meta + meta_size + delta as usize);
        let (iloc, _, _) = find(&in_new_meta, b"iloc");
        let version = out[iloc + 8];
        let offset_len = (out[iloc + 12] >> 4) as usize;
        let length_len = (out[iloc + 12] & 15) as usize;
        let base_len = (out[iloc + 13] >> 4) as usize;
        let index_len = if version >= 1 {
            (out[iloc + 13] & 15) as usize
        } else {
            0
        };
        let (count, mut at) = if version < 2 {
            (be(&out[iloc + 14..iloc + 16]), iloc + 16)
        } else {
            (be(&out[iloc + 14..iloc + 18]), iloc + 18)
        };
        for _ in 0..count {
            at += if version < 2 { 2 } else { 4 };
            let method = if version >= 1 {
                at += 2;
                be(&out[at - 2..at]) & 15
            } else {
                0
            };
            at += 2; // data reference index
            let base_at = at;
            at += base_len;
            let extents = be(&out[at..at + 2]);
            at += 2;
            let file_offsets = method == 0;
            if file_offsets && base_len > 0 {
                let base = be(&out[base_at..base_at + base_len]);
                put(&mut out[base_at..base_at + base_len], base + delta);
            }
            for _ in 0..extents {
                at += index_len;
                if file_offsets && base_len == 0 {
                    let offset = be(&out[at..at + offset_len]);
                    put(&mut out[at..at + offset_len], offset + delta);
                }
                at += offset_len + length_len;
            }
        }
        out
    }

    #[test]
    fn heic_with_orientation_comes_out_upright_once() {
        let Some(jpeg_path) = corpus_path("orient6-landscape.jpg") else {
            return;
        };
        let dir = scratch("orient");
        // heif-enc keeps the JPEG's pixels as stored (1200x1800) and its EXIF (Orientation 6);
        // the irot added here says what an iPhone's file says: turn 90° clockwise.
        let plain = dir.join("orient6.heic");
        if tool("heif-enc", &["-q", "70", s(&jpeg_path), "-o", s(&plain)]).is_none() {
            return;
        }
        let rotated = add_irot(&std::fs::read(&plain).unwrap(), 3);
        let jpeg = std::fs::read(&jpeg_path).unwrap();

        let meta = picsmith::metadata(&rotated, &Default::default()).unwrap();
        assert_eq!((meta.width, meta.height), (1800, 1200));
        assert_eq!(meta.format, Format::Heif);

        let query = "width=300&format=png";
        let from_heic = process(&rotated, query).unwrap();
        let from_jpeg = process(&jpeg, query).unwrap();
        assert_eq!((from_heic.width, from_heic.height), (300, 200));
        let (heic_px, jpeg_px) = (decode(&from_heic.data), decode(&from_jpeg.data));
        let upright = mean_diff(&heic_px, &jpeg_px);
        let upside_down = mean_diff(&heic_px, &jpeg_px.rotate180());
        eprintln!("HEIC vs JPEG: {upright:.2} upright, {upside_down:.2} turned 180°");
        assert!(upright < 6.0, "HEIC differs from the JPEG by {upright:.2}");
        assert!(upside_down > 3.0 * upright);

        // Without the irot the file is shown as stored: its EXIF Orientation is not applied.
        let stored = process(&std::fs::read(&plain).unwrap(), query).unwrap();
        assert_eq!((stored.width, stored.height), (300, 450));

        // The EXIF that travels on says 1, so no viewer turns the result again.
        let out = process(&rotated, "width=300&format=jpeg").unwrap();
        let meta = picsmith::metadata(&out.data, &Default::default()).unwrap();
        assert_eq!(meta.orientation, 1);
    }

    #[test]
    fn heic_with_alpha_keeps_alpha() {
        let Some(webp_path) = corpus_path("alpha-5.webp") else {
            return;
        };
        let dir = scratch("alpha");
        let heic = dir.join("alpha.heic");
        let target = format!("{}[Q=90]", s(&heic));
        if tool("vips", &["copy", s(&webp_path), &target]).is_none() {
            return;
        }
        let bytes = std::fs::read(&heic).unwrap();
        assert_eq!(Format::detect(&bytes), Some(Format::Heif));
        let out = process(&bytes, "width=200&format=png").unwrap();
        let rgba = decode(&out.data);
        assert!(rgba.color().has_alpha());
        let rgba = rgba.to_rgba8();
        let transparent = rgba.pixels().filter(|p| p[3] < 128).count();
        let total = rgba.pixels().count();
        assert!(
            transparent > total / 20 && transparent < total,
            "{transparent} of {total} transparent"
        );
        // Same alpha as the WebP path on the same picture.
        let from_png =
            process(&std::fs::read(&webp_path).unwrap(), "width=200&format=png").unwrap();
        let png_rgba = decode(&from_png.data).to_rgba8();
        let alpha_diff: f64 = rgba
            .pixels()
            .zip(png_rgba.pixels())
            .map(|(a, b)| f64::from(a[3].abs_diff(b[3])))
            .sum::<f64>()
            / total as f64;
        assert!(alpha_diff < 4.0, "alpha differs by {alpha_diff:.2}");
    }

    #[test]
    fn heic_transforms_like_a_jpeg() {
        let Some(jpeg_path) = corpus_path("large-2725x2225.jpg") else {
            return;
        };
        let dir = scratch("large");
        let heic = dir.join("large.heic");
        if tool(
            "vips",
            &["copy", s(&jpeg_path), &format!("{}[Q=70]", s(&heic))],
        )
        .is_none()
        {
            return;
        }
        let bytes = std::fs::read(&heic).unwrap();
        let query = "width=400&height=300&crop=fit&saturation=0.2&format=webp&quality=80";
        let started = std::time::Instant::now();
        let out = process(&bytes, query).unwrap();
        eprintln!(
            "HEIC 2725x2225 -> 400 WebP: {:.0} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        let jpeg = process(&std::fs::read(&jpeg_path).unwrap(), query).unwrap();
        assert_eq!((out.width, out.height), (jpeg.width, jpeg.height));
        assert_eq!(out.format, Format::Webp);
        let diff = mean_diff(&decode(&out.data), &decode(&jpeg.data));
        assert!(diff < 4.0, "HEIC and JPEG outputs differ by {diff:.2}");
        // No format asked: HEIF cannot be written, so JPEG (as for any input without alpha).
        assert_eq!(process(&bytes, "width=64").unwrap().format, Format::Jpeg);
    }

    #[test]
    fn avif_from_the_corpus() {
        let Some(bytes) = common::corpus_file("avif-pitm-4096x800.avif") else {
            return;
        };
        assert_eq!(Format::detect(&bytes), Some(Format::Avif));
        let started = std::time::Instant::now();
        let out = process(&bytes, "width=512&format=png").unwrap();
        eprintln!(
            "AVIF 4096x800 -> 512 PNG: {:.0} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        assert_eq!((out.width, out.height), (512, 100));
        let meta = picsmith::metadata(&bytes, &Default::default()).unwrap();
        assert_eq!(
            (meta.width, meta.height, meta.format),
            (4096, 800, Format::Avif)
        );
        // The input's own format is kept when none is asked.
        let same = process(&bytes, "width=256").unwrap();
        assert_eq!(same.format, Format::Avif);
        assert_eq!(Format::detect(&same.data), Some(Format::Avif));
    }

    #[test]
    fn avif_is_written_by_libaom_with_its_metadata_and_reads_back() {
        let Some(jpeg) = common::corpus_file("orient6-landscape.jpg") else {
            return;
        };
        let avif = process(&jpeg, "width=600&format=avif&quality=60").unwrap();
        assert_eq!(Format::detect(&avif.data), Some(Format::Avif));
        assert_eq!((avif.width, avif.height), (600, 400));
        let meta = picsmith::metadata(&avif.data, &picsmith::MetadataOptions::default()).unwrap();
        // Turned upright, so the EXIF it carries says orientation 1.
        assert_eq!((meta.width, meta.height, meta.orientation), (600, 400, 1));
        assert!(!meta.exif.0.is_empty(), "EXIF travels into the AVIF");

        let back = process(&avif.data, "format=png").unwrap();
        let reference = process(&jpeg, "width=600&format=png").unwrap();
        let diff = mean_diff(&decode(&back.data), &decode(&reference.data));
        assert!(diff < 4.0, "AVIF round trip differs by {diff:.2}");

        // Alpha is kept.
        if let Some(alpha) = common::corpus_file("alpha-5.webp") {
            let avif = process(&alpha, "format=avif").unwrap();
            let back = decode(&process(&avif.data, "format=png").unwrap().data);
            assert!(back.color().has_alpha());
        }
    }

    #[test]
    fn avif_keeps_the_icc_profile_and_writes_grey_as_grey() {
        let Some(p3) = common::corpus_file("iphone-p3-4032x3024.jpg") else {
            return;
        };
        let avif = process(&p3, "width=300&format=avif").unwrap();
        let meta = picsmith::metadata(&avif.data, &picsmith::MetadataOptions::default()).unwrap();
        assert_eq!(meta.format, Format::Avif);
        assert_eq!(meta.color_space, "display-p3");
        assert_eq!(av1_chroma(&avif.data), "4:4:4");

        let Some(grey) = common::corpus_file("gray-concert.jpg") else {
            return;
        };
        let avif = process(&grey, "width=300&format=avif").unwrap();
        assert_eq!(av1_chroma(&avif.data), "4:0:0");
        let back = decode(&process(&avif.data, "format=png").unwrap().data);
        let reference = decode(&process(&grey, "width=300&format=png").unwrap().data);
        let diff = mean_diff(&back, &reference);
        assert!(diff < 4.0, "grey AVIF round trip differs by {diff:.2}");
    }

    /// The chroma layout an AVIF's AV1 configuration (`av1C`) declares: its third byte holds
    /// the monochrome flag and the two subsampling flags.
    fn av1_chroma(avif: &[u8]) -> &'static str {
        let at = avif
            .windows(4)
            .position(|w| w == b"av1C")
            .expect("an av1C box")
            + 4;
        match (avif[at + 2] >> 2) & 0b111 {
            0b100 | 0b111 => "4:0:0",
            0b011 => "4:2:0",
            0b010 => "4:2:2",
            0b000 => "4:4:4",
            other => panic!("chroma flags {other:03b}"),
        }
    }

    /// The smallest images, odd sizes, grey with alpha and both ends of the quality scale all
    /// encode and read back at their size, with their colour and alpha.
    #[test]
    fn avif_of_small_odd_and_grey_alpha_images() {
        let png = |image: image::DynamicImage| {
            let mut bytes = Vec::new();
            image
                .write_to(
                    &mut std::io::Cursor::new(&mut bytes),
                    image::ImageFormat::Png,
                )
                .unwrap();
            bytes
        };
        let red = image::Rgba([200, 30, 40, 160]);
        let cases = [
            (
                png(image::RgbaImage::from_pixel(1, 1, red).into()),
                "format=avif",
            ),
            (
                png(image::RgbImage::from_pixel(3, 517, image::Rgb([200, 30, 40])).into()),
                "format=avif&quality=1",
            ),
            (
                png(image::RgbaImage::from_pixel(515, 3, red).into()),
                "format=avif&quality=100",
            ),
            (
                png(image::GrayAlphaImage::from_pixel(9, 7, image::LumaA([90, 128])).into()),
                "format=avif",
            ),
        ];
        for (input, query) in cases {
            let source = decode(&input);
            let avif = process(&input, query).unwrap();
            assert_eq!(Format::detect(&avif.data), Some(Format::Avif));
            let back = decode(&process(&avif.data, "format=png").unwrap().data);
            let size = (source.width(), source.height());
            assert_eq!((back.width(), back.height()), size, "{query} of {size:?}");
            assert_eq!(
                back.color().has_alpha(),
                source.color().has_alpha(),
                "{size:?}"
            );
            // A flat colour comes back close, even at quality 1 (libaom's coarsest quantizer,
            // 10 off here).
            let (a, b) = (source.to_rgba8(), back.to_rgba8());
            let worst = a
                .pixels()
                .zip(b.pixels())
                .flat_map(|(p, q)| p.0.into_iter().zip(q.0).map(|(x, y)| x.abs_diff(y)))
                .max()
                .unwrap();
            assert!(
                worst <= 16,
                "{query} of {size:?}: a channel is off by {worst}"
            );
        }
    }

    /// libaom codes the two tile columns of a wide image on two threads when a core is spare
    /// and on one when every core is busy: the bytes must be the same either way.
    #[test]
    fn avif_bytes_do_not_depend_on_how_busy_the_machine_is() {
        let Some(jpeg) = common::corpus_file("large-2725x2225.jpg") else {
            return;
        };
        let query = "width=720&format=avif&quality=70";
        let alone = process(&jpeg, query).unwrap().data;
        let busy: Vec<Vec<u8>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| process(&jpeg, query).unwrap().data))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        for bytes in busy {
            assert!(
                bytes == alone,
                "{} bytes against {}",
                bytes.len(),
                alone.len()
            );
        }
    }

    #[test]
    fn jxl_round_trip() {
        let Some(jpeg) = common::corpus_file("orient1-landscape.jpg") else {
            return;
        };
        let started = std::time::Instant::now();
        let jxl = process(&jpeg, "width=600&format=jxl&quality=85").unwrap();
        eprintln!(
            "JPEG 1800x1200 -> 600 JXL: {:.0} ms, {} bytes",
            started.elapsed().as_secs_f64() * 1e3,
            jxl.data.len()
        );
        assert_eq!(jxl.format, Format::Jxl);
        assert_eq!(jxl.mime(), "image/jxl");
        assert_eq!(Format::detect(&jxl.data), Some(Format::Jxl));
        assert_eq!((jxl.width, jxl.height), (600, 400));

        let started = std::time::Instant::now();
        let back = process(&jxl.data, "format=png").unwrap();
        eprintln!(
            "JXL 600x400 -> PNG: {:.0} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        assert_eq!((back.width, back.height), (600, 400));
        let reference = process(&jpeg, "width=600&format=png").unwrap();
        let diff = mean_diff(&decode(&back.data), &decode(&reference.data));
        assert!(diff < 3.0, "JPEG XL round trip differs by {diff:.2}");

        // Lossless JPEG XL gives back the exact pixels; no format keeps JXL.
        let png = process(&jpeg, "width=120&format=png").unwrap();
        let lossless = process(&png.data, "format=jxl&lossless=true").unwrap();
        assert!(lossless.warnings.is_empty(), "{:?}", lossless.warnings);
        let again = process(&lossless.data, "").unwrap();
        assert_eq!(again.format, Format::Jxl);
        let exact = process(&lossless.data, "format=png").unwrap();
        assert_eq!(decode(&exact.data).to_rgb8(), decode(&png.data).to_rgb8());

        // JPEG XL with alpha.
        if let Some(alpha) = common::corpus_file("alpha-5.webp") {
            let jxl = process(&alpha, "format=jxl").unwrap();
            let back = decode(&process(&jxl.data, "format=png").unwrap().data);
            assert!(back.color().has_alpha());
        }
    }

    #[test]
    fn tiff_16bit_with_icc_is_color_correct() {
        let Some(path) = corpus_path("icc-adobergb-16bit.tiff") else {
            return;
        };
        let dir = scratch("tiff16");
        let reference = dir.join("reference.png");
        // libvips' own conversion from the embedded Adobe RGB profile to sRGB at 8 bits.
        let args = [
            "icc_transform",
            s(&path),
            s(&reference),
            "srgb",
            "--embedded",
            "--depth",
            "8",
        ];
        if tool("vips", &args).is_none() {
            return;
        }
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(Format::detect(&bytes), Some(Format::Tiff));
        let started = std::time::Instant::now();
        let out = process(&bytes, "format=png").unwrap();
        eprintln!(
            "TIFF 317x211 16-bit Adobe RGB -> PNG: {:.0} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        let ours = decode(&out.data);
        let expected = image::open(&reference).unwrap();
        let diff = mean_diff(&ours, &expected);
        eprintln!("TIFF vs vips icc_transform: {diff:.3}");
        assert!(
            diff < 1.0,
            "differs from the reference conversion by {diff:.2}"
        );
        // Not merely a 16 -> 8 bit cut: the Adobe RGB values themselves differ clearly.
        let naive = dir.join("naive.png");
        tool("vips", &["cast", s(&path), s(&naive), "uchar", "--shift"]).unwrap();
        let untouched = image::open(&naive).unwrap();
        assert!(mean_diff(&untouched, &expected) > 2.0 * diff.max(0.5));
        // The output carries no Adobe RGB profile: its pixels are sRGB now.
        let meta = picsmith::metadata(&out.data, &Default::default()).unwrap();
        assert_ne!(meta.color_space, "adobe-rgb");
        // Same parameters as a JPEG.
        let webp = process(&bytes, "width=200&rotate=90&format=webp").unwrap();
        assert_eq!((webp.width, webp.height), (200, 300));
    }

    #[test]
    fn multi_page_tiff_page_picks_the_page() {
        let Some(photo) = corpus_path("orient1-landscape.jpg") else {
            return;
        };
        let dir = scratch("pages");
        let negative = dir.join("negative.png");
        let tiff = dir.join("two.tif");
        if tool("vips", &["invert", s(&photo), s(&negative)]).is_none() {
            return;
        }
        let joined = format!("{} {}", s(&photo), s(&negative));
        let target = format!("{}[page-height=1200,compression=deflate]", s(&tiff));
        tool("vips", &["arrayjoin", &joined, &target, "--across", "1"]).unwrap();
        let bytes = std::fs::read(&tiff).unwrap();
        let mean = |query: &str| {
            let out = process(&bytes, query).unwrap();
            assert_eq!((out.width, out.height), (180, 120), "{query}");
            let rgb = decode(&out.data).to_rgb8();
            rgb.as_raw().iter().map(|&v| f64::from(v)).sum::<f64>() / rgb.as_raw().len() as f64
        };
        let first = mean("width=180&format=png");
        let page0 = mean("width=180&format=png&page=0");
        let page1 = mean("width=180&format=png&page=1");
        assert_eq!(first, page0);
        assert!(
            (page0 + page1 - 255.0).abs() < 2.0,
            "page 1 is not the negative: {page0:.1} + {page1:.1}"
        );
        let err = process(&bytes, "page=2").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidParameter);
        assert_eq!(err.parameter(), Some("page"));
        assert!(err.message().contains("2 pages"), "{}", err.message());
        // A single-image format ignores page, with a warning.
        let jpeg = std::fs::read(&photo).unwrap();
        let out = process(&jpeg, "width=50&page=1").unwrap();
        assert!(out.warnings.iter().any(|w| w.parameter == "page"));
    }

    #[test]
    fn limits_refuse_a_large_heic_before_decoding() {
        let Some(jpeg_path) = corpus_path("large-2725x2225.jpg") else {
            return;
        };
        let dir = scratch("limits");
        let heic = dir.join("large.heic");
        if tool(
            "vips",
            &["copy", s(&jpeg_path), &format!("{}[Q=40]", s(&heic))],
        )
        .is_none()
        {
            return;
        }
        let bytes = std::fs::read(&heic).unwrap();
        let options = Options {
            limits: Limits {
                max_source_pixels: 2725 * 2225 - 1,
                ..Limits::default()
            },
            ..Options::default()
        };
        let started = std::time::Instant::now();
        let err = picsmith::process(&bytes, "width=100", &options).unwrap_err();
        let took = started.elapsed();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
        assert!(err.message().contains("2725x2225"), "{}", err.message());
        // The header alone: far less than the ~100 ms a decode of this HEIC takes.
        eprintln!("refused in {:.1} ms", took.as_secs_f64() * 1e3);
        let took_decoding = {
            let started = std::time::Instant::now();
            process(&bytes, "width=100").unwrap();
            started.elapsed()
        };
        assert!(took * 3 < took_decoding, "{took:?} vs {took_decoding:?}");
    }

    #[test]
    fn every_corpus_file_through_every_libvips_loader() {
        let dir = common::corpus_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("SKIPPED: corpus folder {} is absent", dir.display());
            return;
        };
        let limits = Limits::default();
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            files.push((path.display().to_string(), bytes));
        }
        // Cut copies of the files libvips reads for real.
        let cut: Vec<_> = files
            .iter()
            .filter(|(_, b)| Format::detect(b).is_some_and(|f| Format::VIPS_INPUTS.contains(&f)))
            .flat_map(|(name, b)| {
                [b.len() / 2, 200, 40].map(|n| (format!("{name} cut at {n}"), b[..n].to_vec()))
            })
            .collect();
        files.extend(cut);
        let mut decoded = 0;
        for (name, bytes) in &files {
            for format in Format::VIPS_INPUTS {
                // A panic or a crash here names nothing, so say what is being read first.
                match picsmith::vips::decode_with(bytes, format, &limits) {
                    Ok(_) => decoded += 1,
                    Err(err) => assert!(
                        matches!(
                            err.kind(),
                            ErrorKind::InvalidImage | ErrorKind::LimitExceeded
                        ),
                        "{name} as {format}: unexpected {} ({err})",
                        err.code()
                    ),
                }
            }
            // And the whole pipeline, whichever decoder the bytes choose.
            if let Err(err) = process(bytes, "width=64&format=png") {
                assert!(
                    matches!(
                        err.kind(),
                        ErrorKind::InvalidImage
                            | ErrorKind::LimitExceeded
                            | ErrorKind::UnsupportedFormat
                    ),
                    "{name}: unexpected {} ({err})",
                    err.code()
                );
            }
        }
        // The AVIF and the TIFF of the corpus at least.
        assert!(decoded >= 2, "only {decoded} decodes");
    }

    #[test]
    fn features_name_vips() {
        assert!(picsmith::features().contains(&"vips"));
        for format in Format::VIPS_INPUTS {
            assert!(format.can_decode(), "{format}");
        }
        assert!(Format::Jxl.can_encode());
        assert!(picsmith::vips::version().is_some_and(|v| v.starts_with("8.")));
    }
}

#[cfg(not(feature = "vips"))]
#[test]
fn without_the_feature_long_tail_formats_answer_415_naming_it() {
    use picsmith::{ErrorKind, Options};
    assert!(!picsmith::features().contains(&"vips"));
    let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic\0\0\0\x08free".to_vec();
    let jxl = b"\xFF\x0A\xFA\x7F\x01\x90\x08\x06".to_vec();
    let tiff = common::corpus_file("icc-adobergb-16bit.tiff")
        .unwrap_or_else(|| b"II*\0\x08\0\0\0\0\0".to_vec());
    let avif = common::corpus_file("avif-pitm-4096x800.avif")
        .unwrap_or_else(|| b"\0\0\0\x1cftypavif\0\0\0\0mif1miaf\0\0\0\0\0\0\0\0".to_vec());
    for (name, bytes) in [("heif", heic), ("jxl", jxl), ("tiff", tiff), ("avif", avif)] {
        let err = picsmith::process(&bytes, "width=10", &Options::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnsupportedFormat, "{name}: {err}");
        assert_eq!(err.http_status(), 415);
        assert!(err.message().contains("`vips` feature"), "{name}: {err}");
        assert!(err.message().starts_with(name), "{err}");
    }
    let jpeg = common::corpus_file("orient1-landscape.jpg");
    if let Some(jpeg) = jpeg {
        let err = picsmith::process(&jpeg, "width=10&format=jxl", &Options::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnsupportedFormat);
        assert!(err.message().contains("`vips` feature"), "{err}");
    }
}
