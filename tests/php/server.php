<?php
// The Imagizer transform language over HTTP from PHP: a router script for PHP's built-in web
// server that answers `GET /<file>?<query>` with a file of a folder, transformed by picsmith
// through its C ABI and PHP FFI. The engine parses the query, so the transform language, its
// warnings and its errors are the same as everywhere else; this script only maps HTTP to
// picsmith_process and the result back.
//
// Usage:
//   PICSMITH_PHP_ORIGINALS=/srv/images php -d ffi.enable=1 -S 127.0.0.1:8080 tests/php/server.php
//   curl -H 'Accept: image/webp' 'localhost:8080/photo.jpg?width=400&format=auto'
//
// Answers: the image with Content-Type, Content-Length, `Vary: Accept` when format=auto chose
// the format and X-Picsmith-Warnings; or {"error": {"code", "message", "parameter"}} with the
// status of the error. Paths with `.` or `..` segments, or leading out of the folder through
// a link, are answered 404 like any missing file.

declare(strict_types=1);

// Statuses of the errors this script raises itself; picsmith's own errors carry their status
// (picsmith_last_error_http_status).
const OWN_STATUS = [
    'not_found' => 404,
    'method_not_allowed' => 405,
    'limit_exceeded' => 413,
    'internal' => 500,
];

/** Answers the error envelope, with the status of `$code` (500 for a code not in the table). */
function answer_error(string $code, string $message, ?string $parameter = null, ?int $status = null): void
{
    http_response_code($status ?? OWN_STATUS[$code] ?? 500);
    if ($code === 'method_not_allowed') {
        header('Allow: GET, HEAD');
    }
    $body = json_encode(
        ['error' => ['code' => $code, 'message' => $message, 'parameter' => $parameter]],
        JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE
    );
    header('Content-Type: application/json');
    header('Content-Length: ' . strlen($body));
    echo $body;
}

/** The error of the last picsmith call on this thread, answered. */
function answer_last_error(FFI $ffi): void
{
    answer_error(
        $ffi->picsmith_last_error_code() ?? 'internal',
        $ffi->picsmith_last_error_message() ?? 'picsmith reported no error message',
        $ffi->picsmith_last_error_parameter(),
        $ffi->picsmith_last_error_http_status() ?: 500
    );
}

/** picsmith's C ABI: include/picsmith.h and the libpicsmith.so that `cargo build --release -p picsmith-c` makes. */
function picsmith_ffi(): FFI
{
    $root = dirname(__DIR__, 2);
    $target = getenv('CARGO_TARGET_DIR') ?: "$root/target";
    $triple = getenv('CARGO_BUILD_TARGET');
    $library = $triple ? "$target/$triple/release/libpicsmith.so" : "$target/release/libpicsmith.so";
    // PHP FFI parses declarations but no preprocessor lines (as in smoke.php).
    $declarations = preg_replace('/^#ifdef __cplusplus\n.*?^#endif.*?$/ms', '', file_get_contents("$root/include/picsmith.h"));
    return FFI::cdef(preg_replace('/^#.*$/m', '', $declarations), $library);
}

/**
 * The file under `$originals` that a percent-decoded request path names, or null when there is
 * none or the path would leave the folder.
 */
function original_file(string $originals, string $path): ?string
{
    $relative = substr($path, 1);
    if (!str_starts_with($path, '/') || $relative === '' || str_contains($relative, "\0") || str_contains($relative, '\\')) {
        return null;
    }
    foreach (explode('/', $relative) as $segment) {
        if ($segment === '' || $segment === '.' || $segment === '..') {
            return null;
        }
    }
    // realpath resolves links: one that leads out of the folder is refused too.
    $folder = realpath($originals);
    $file = realpath("$originals/$relative");
    if ($folder === false || $file === false || !str_starts_with($file, "$folder/") || !is_file($file)) {
        return null;
    }
    return $file;
}

/** Header text: everything outside printable ASCII escaped, so a crafted query key cannot split headers. */
function header_text(string $text): string
{
    return substr(json_encode($text, JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE), 1, -1);
}

function serve(): void
{
    $method = $_SERVER['REQUEST_METHOD'];
    if ($method !== 'GET' && $method !== 'HEAD') {
        answer_error('method_not_allowed', "$method is not allowed here; use GET or HEAD");
        return;
    }
    $originals = getenv('PICSMITH_PHP_ORIGINALS');
    if ($originals === false || $originals === '') {
        answer_error('internal', 'the server is not configured: set PICSMITH_PHP_ORIGINALS to the folder of originals');
        return;
    }
    $path = rawurldecode(explode('?', $_SERVER['REQUEST_URI'], 2)[0]);
    $file = original_file($originals, $path);
    if ($file === null) {
        answer_error('not_found', "no image '$path'");
        return;
    }

    $ffi = picsmith_ffi();
    // Refused before reading, so a huge file never fills PHP's memory.
    $maxInput = $ffi->picsmith_limits_default()->max_input_bytes;
    if (filesize($file) > $maxInput) {
        answer_error('limit_exceeded', "the image is larger than $maxInput bytes");
        return;
    }
    $input = file_get_contents($file);
    $bytes = $ffi->new('uint8_t[' . max(1, strlen($input)) . ']');
    FFI::memcpy($bytes, $input, strlen($input));
    $image = $ffi->new('picsmith_image *');
    $status = $ffi->picsmith_process(
        $bytes, strlen($input), $_SERVER['QUERY_STRING'] ?? '', $_SERVER['HTTP_ACCEPT'] ?? null, null, FFI::addr($image)
    );
    if ($status !== $ffi->PICSMITH_STATUS_OK) {
        answer_last_error($ffi);
        return;
    }
    try {
        $length = $ffi->new('size_t');
        $data = FFI::string($ffi->picsmith_image_data($image, FFI::addr($length)), $length->cdata);
        header('Content-Type: ' . $ffi->picsmith_image_mime($image));
        header('Content-Length: ' . strlen($data));
        if ($ffi->picsmith_image_vary_accept($image)) {
            header('Vary: Accept');
        }
        $warnings = [];
        for ($i = 0; $i < $ffi->picsmith_image_warning_count($image); $i++) {
            $warnings[] = $ffi->picsmith_image_warning_message($image, $i);
        }
        if ($warnings !== []) {
            header('X-Picsmith-Warnings: ' . header_text(implode('; ', $warnings)));
        }
    } finally {
        $ffi->picsmith_image_free($image);
    }
    if ($method === 'GET') {
        echo $data;
    }
}

try {
    serve();
} catch (Throwable $error) {
    // A missing library, a header PHP cannot parse: logged here, and the client still gets
    // the error envelope.
    error_log('tests/php/server.php: ' . $error);
    if (!headers_sent()) {
        header_remove();
        answer_error('internal', 'internal error: please report it');
    }
}
