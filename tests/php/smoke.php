<?php
// Smoke test of the C ABI from PHP FFI: loads include/picsmith.h and the built libpicsmith.so.
//
// Usage: php -d ffi.enable=1 tests/php/smoke.php [image.jpg]
// Without an argument the corpus file large-2725x2225.jpg is read from $PICSMITH_CORPUS, else
// from ../shared/corpus beside the checkout. When it is missing the image tests print SKIP.

declare(strict_types=1);

$root = dirname(__DIR__, 2);
$header = "$root/include/picsmith.h";
$target = getenv('CARGO_TARGET_DIR') ?: "$root/target";
// cargo's layout: target/<triple>/release when a target is named (the Makefile names the host's).
$triple = getenv('CARGO_BUILD_TARGET');
$library = $triple ? "$target/$triple/release/libpicsmith.so" : "$target/release/libpicsmith.so";

foreach ([$header, $library] as $needed) {
    if (!is_file($needed)) {
        fwrite(STDERR, "tests/php: $needed is missing; run: cargo build --release -p picsmith-c\n");
        exit(2);
    }
}

$source = file_get_contents($header);
// PHP FFI parses declarations but no preprocessor: drop the C++ guard block (it is only for C++
// compilers), read the ABI version macros, then drop the remaining directives.
$declarations = preg_replace('/^#ifdef __cplusplus\n.*?^#endif.*?$/ms', '', $source);
$declarations = preg_replace('/^#.*$/m', '', $declarations);
preg_match_all('/^#define (PICSMITH_ABI_VERSION_\w+) (\d+)$/m', $source, $macros);
$headerVersion = array_combine($macros[1], array_map('intval', $macros[2]));

// PHP FFI returns `const char *` results as PHP strings (NULL as null) and copies them.
$ffi = FFI::cdef($declarations, $library);

$passed = 0;
$failed = 0;

function check(bool $ok, string $what): void
{
    global $passed, $failed, $ffi;
    if ($ok) {
        $passed++;
        echo "ok   $what\n";
        return;
    }
    $failed++;
    echo "FAIL $what\n";
    $code = $ffi->picsmith_last_error_code();
    if ($code !== null) {
        echo "     last error: $code: ", $ffi->picsmith_last_error_message(), "\n";
    }
}

/** A PHP string copied into C memory, as the `const uint8_t *` the ABI takes. */
function bytes(FFI $ffi, string $data): FFI\CData
{
    $buffer = $ffi->new('uint8_t[' . max(1, strlen($data)) . ']');
    FFI::memcpy($buffer, $data, strlen($data));
    return $buffer;
}

/**
 * Runs picsmith_process; returns [status, image or null].
 * @return array{0: int, 1: ?FFI\CData}
 */
function process(FFI $ffi, ?string $input, string $query, ?string $accept = null): array
{
    $out = $ffi->new('picsmith_image *');
    $buffer = $input === null ? null : bytes($ffi, $input);
    $status = $ffi->picsmith_process($buffer, $input === null ? 0 : strlen($input), $query, $accept, null, FFI::addr($out));
    return [$status, FFI::isNull($out) ? null : $out];
}

function isWebp(string $data): bool
{
    return strlen($data) >= 12 && substr($data, 0, 4) === 'RIFF' && substr($data, 8, 4) === 'WEBP';
}

// The library must speak the ABI this header describes.
check($ffi->picsmith_abi_version_major() === $headerVersion['PICSMITH_ABI_VERSION_MAJOR'], 'library ABI major matches the header');
check($ffi->picsmith_abi_version_minor() >= $headerVersion['PICSMITH_ABI_VERSION_MINOR'], "library ABI minor is at least the header's");
check(preg_match('/^\d+\.\d+\.\d+/', $ffi->picsmith_version() ?? '') === 1, 'picsmith_version() is a semantic version');
$limits = $ffi->picsmith_limits_default();
check($limits->max_output_side === 16384 && $limits->max_input_bytes === 64 * 1024 * 1024, 'picsmith_limits_default() returns the defaults');

// Errors need no image.
[$status, $image] = process($ffi, 'not an image', 'width=0');
check($status === $ffi->PICSMITH_STATUS_INVALID_PARAMETER && $image === null, 'width=0 is PICSMITH_STATUS_INVALID_PARAMETER');
check($ffi->picsmith_last_error_code() === 'invalid_parameter', 'last error code is "invalid_parameter"');
check($ffi->picsmith_last_error_parameter() === 'width', 'last error parameter is "width"');
check(str_contains($ffi->picsmith_last_error_message() ?? '', "'0'"), 'last error message names the bad value');

[$status] = process($ffi, null, 'width=10');
check($status === $ffi->PICSMITH_STATUS_INVALID_ARGUMENT, 'NULL input is PICSMITH_STATUS_INVALID_ARGUMENT');
check($ffi->picsmith_last_error_code() === 'invalid_argument', 'last error code is "invalid_argument"');

[$status] = process($ffi, "\xff\xd8\xff", "width=\xff");
check($status === $ffi->PICSMITH_STATUS_INVALID_ARGUMENT, 'a query that is not UTF-8 is PICSMITH_STATUS_INVALID_ARGUMENT');

[$status] = process($ffi, 'GIF89a garbage', 'width=10');
check($status === $ffi->PICSMITH_STATUS_INVALID_IMAGE, 'a corrupt GIF is PICSMITH_STATUS_INVALID_IMAGE');

$ffi->picsmith_image_free(null);
$ffi->picsmith_pipeline_free(null);
$ffi->picsmith_buffer_free(null, 0);
check(true, 'the free functions accept NULL');

$path = $argv[1] ?? (getenv('PICSMITH_CORPUS') ?: dirname($root) . '/shared/corpus') . '/large-2725x2225.jpg';
$jpeg = is_readable($path) ? file_get_contents($path) : false;
if ($jpeg === false) {
    echo "SKIP image tests: cannot read $path (set PICSMITH_CORPUS or pass a JPEG path)\n";
} else {
    [$status, $image] = process($ffi, $jpeg, 'width=400&format=webp');
    check($status === $ffi->PICSMITH_STATUS_OK && $image !== null, 'width=400&format=webp succeeds');
    if ($image !== null) {
        check($ffi->picsmith_image_width($image) === 400, 'width is 400');
        check($ffi->picsmith_image_height($image) === 327, 'height keeps the aspect ratio (327)');
        check($ffi->picsmith_image_format($image) === 'webp', 'format is "webp"');
        check($ffi->picsmith_image_mime($image) === 'image/webp', 'mime is "image/webp"');
        check($ffi->picsmith_image_warning_count($image) === 0, 'no warnings');
        $len = $ffi->new('size_t');
        $data = $ffi->picsmith_image_data($image, FFI::addr($len));
        $borrowed = FFI::string($data, $len->cdata);
        check(isWebp($borrowed), 'data starts with RIFF....WEBP');

        $owned = $ffi->new('uint8_t *');
        $ownedLen = $ffi->new('size_t');
        $status = $ffi->picsmith_image_take_data($image, FFI::addr($owned), FFI::addr($ownedLen));
        $ffi->picsmith_image_free($image);
        check($status === $ffi->PICSMITH_STATUS_OK && FFI::string($owned, $ownedLen->cdata) === $borrowed, 'take_data hands over the same bytes, which outlive the image');
        $ffi->picsmith_buffer_free($owned, $ownedLen->cdata);
    }

    $pipeline = $ffi->new('picsmith_pipeline *');
    $status = $ffi->picsmith_pipeline_new('w=200&format=auto', true, FFI::addr($pipeline));
    check($status === $ffi->PICSMITH_STATUS_OK, 'a strict pipeline accepts known parameters');
    $input = bytes($ffi, $jpeg);
    $image = $ffi->new('picsmith_image *');
    $status = $ffi->picsmith_pipeline_run($pipeline, $input, strlen($jpeg), 'image/webp,*/*', null, FFI::addr($image));
    check(
        $status === $ffi->PICSMITH_STATUS_OK && $ffi->picsmith_image_width($image) === 200
            && $ffi->picsmith_image_format($image) === 'webp' && $ffi->picsmith_image_vary_accept($image),
        'a pipeline negotiates WebP from Accept and says to vary on it'
    );
    $ffi->picsmith_image_free($image);
    $ffi->picsmith_pipeline_free($pipeline);

    $json = $ffi->new('char *');
    $colors = 1; // PICSMITH_METADATA_COLORS: PHP's FFI does not read #define
    $status = $ffi->picsmith_metadata($input, strlen($jpeg), $colors, null, FFI::addr($json));
    $meta = $status === $ffi->PICSMITH_STATUS_OK ? json_decode(FFI::string($json), true) : null;
    check(
        is_array($meta) && $meta['width'] === 2725 && $meta['format'] === 'jpeg'
            && preg_match('/^#[0-9A-F]{6}$/', $meta['dominantColor'] ?? '') === 1,
        'picsmith_metadata returns the JSON of the header and the dominant colour'
    );
    $ffi->picsmith_string_free($json);
}

echo "$passed passed, $failed failed\n";
exit($failed === 0 ? 0 : 1);
