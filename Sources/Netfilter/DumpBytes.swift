import Foundation

// The parser reads a dump as bytes: one copy of the text, words as offsets into it, hashes for
// dispatch and interning. Strings are made only for what a rule keeps (interned) or when a
// caller asks for a rule's parts.

/// Bytes that may be read past the end of a word: every buffer a word lives in has this much
/// zero padding after its last byte, so hashing can load eight bytes at a time.
let wordPadding = 8

/// Hashes a word's bytes eight at a time. `p` must be followed by `wordPadding` readable bytes
/// past `count` (the dump and scratch buffers are padded).
@inline(__always) func wordHash(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt64 {
    let raw = UnsafeRawPointer(p)
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: count)
    var k = 0
    while k < count {
        var chunk = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: k, as: UInt64.self))
        let left = count - k
        if left < 8 { chunk &= (1 &<< UInt64(left &* 8)) &- 1 }
        h = (h ^ chunk) &* 0xBF58_476D_1CE4_E5B9
        h ^= h &>> 31
        k += 8
    }
    h = (h ^ (h &>> 29)) &* 0x94D0_49BB_1331_11EB
    return h ^ (h &>> 32)
}

/// `wordHash` of any byte collection (for tests and the rare words built outside a dump buffer).
func wordHash<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
    let padded = Array(bytes) + [UInt8](repeating: 0, count: wordPadding)
    return padded.withUnsafeBufferPointer { wordHash($0.baseAddress!, padded.count - wordPadding) }
}

/// One word of a rule line: where its bytes are, its column, whether it was quoted, its hash.
///
/// An unquoted word, and a quoted word without backslashes, is a range of the dump itself; a
/// quoted word with escapes is unescaped into the line's scratch buffer (`inScratch`).
struct Token {
    /// Offset of the word's first byte in the dump, or in the scratch buffer when `inScratch`.
    var start: Int32
    var count: Int32
    /// 1-based byte column in the line (the opening quote of a quoted word).
    var column: Int32
    var quoted: Bool
    var inScratch: Bool
    /// `wordHash` of the word's (unescaped) bytes.
    var hash: UInt64

    /// The hash the parser dispatches on: quoted words never name an option, module or target
    /// keyword (`-m "tcp"` loads a module by name, not by keyword).
    @inline(__always) var key: UInt64 { quoted ? 0 : hash }
}

/// The buffers the words of one line live in, for reading a word's bytes.
struct LineBytes {
    let dump: UnsafePointer<UInt8>
    let scratch: UnsafePointer<UInt8>

    @inline(__always) func pointer(_ t: Token) -> UnsafePointer<UInt8> {
        (t.inScratch ? scratch : dump) + Int(t.start)
    }
    @inline(__always) func bytes(_ t: Token) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: pointer(t), count: Int(t.count))
    }
    @inline(__always) func first(_ t: Token) -> UInt8? { t.count > 0 ? pointer(t)[0] : nil }
    func string(_ t: Token) -> String { String(decoding: bytes(t), as: UTF8.self) }

    /// True for `-x` / `--xyz` words that start an option (a quoted word never does).
    @inline(__always) func isOption(_ t: Token) -> Bool {
        guard !t.quoted, t.count >= 2 else { return false }
        let p = pointer(t)
        return p[0] == UInt8(ascii: "-") && !(p[1] >= UInt8(ascii: "0") && p[1] <= UInt8(ascii: "9"))
    }
    @inline(__always) func isBang(_ t: Token) -> Bool {
        !t.quoted && t.count == 1 && pointer(t)[0] == UInt8(ascii: "!")
    }
    @inline(__always) func equals(_ t: Token, _ word: StaticString) -> Bool {
        t.count == word.utf8CodeUnitCount && memcmp(pointer(t), word.utf8Start, Int(t.count)) == 0
    }
}

/// The offset of the first space or tab at or after `start`, or `end`: eight bytes at a time
/// (`dump` must have `wordPadding` readable bytes past `end`, as the dump buffer has).
@inline(__always) func unquotedWordEnd(_ dump: UnsafePointer<UInt8>, from start: Int, to end: Int) -> Int {
    let raw = UnsafeRawPointer(dump)
    let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
    var k = start
    while k < end {
        let chunk = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: k, as: UInt64.self))
        // A byte equal to the separator becomes zero; the lowest flagged byte is exact
        // (flags above it may be false, and are ignored).
        let spaces = chunk ^ (0x20 &* ones), tabs = chunk ^ (0x09 &* ones)
        let found = ((spaces &- ones) & ~spaces | (tabs &- ones) & ~tabs) & highs
        if found != 0 { return min(k + found.trailingZeroBitCount >> 3, end) }
        k += 8
    }
    return end
}

/// The offset of the first `"` or backslash at or after `start`, or `end`: eight bytes at a
/// time, as `unquotedWordEnd`.
@inline(__always) func quoteOrBackslash(_ dump: UnsafePointer<UInt8>, from start: Int, to end: Int) -> Int {
    let raw = UnsafeRawPointer(dump)
    let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
    var k = start
    while k < end {
        let chunk = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: k, as: UInt64.self))
        let quotes = chunk ^ (0x22 &* ones), backslashes = chunk ^ (0x5C &* ones)
        let found = ((quotes &- ones) & ~quotes | (backslashes &- ones) & ~backslashes) & highs
        if found != 0 { return min(k + found.trailingZeroBitCount >> 3, end) }
        k += 8
    }
    return end
}

/// A line failed to split into words (an unterminated quote), at this 1-based column.
struct UnterminatedQuote: Error { var column: Int }

/// Splits a rule line into words the way `iptables-restore` does: spaces and tabs separate
/// words, double quotes group them, a backslash inside quotes takes the next byte literally.
///
/// `dump[start..<end]` is the part of the line to split, `columnBase` the offset of the line's
/// first byte (columns count from it). Unescaped quoted words go to `scratch`, which must hold
/// `end - start + wordPadding` bytes and start zeroed past what is written.
func tokenize(_ dump: UnsafePointer<UInt8>, from start: Int, to end: Int, columnBase: Int,
              scratch: UnsafeMutablePointer<UInt8>, into tokens: inout [Token]) throws(UnterminatedQuote) {
    tokens.removeAll(keepingCapacity: true)
    var i = start
    var used = 0
    while i < end {
        while i < end && (dump[i] == 0x20 || dump[i] == 0x09) { i += 1 }
        if i >= end { break }
        let column = Int32(i - columnBase + 1)
        if dump[i] == UInt8(ascii: "\"") {
            i += 1
            let s = i
            var escaped = false
            var closed = false
            while i < end {
                i = quoteOrBackslash(dump, from: i, to: end)
                guard i < end else { break }
                if dump[i] == UInt8(ascii: "\\") {
                    // A backslash takes the next byte literally; a last one stands for itself.
                    if i + 1 < end { escaped = true; i += 2 } else { i += 1 }
                    continue
                }
                closed = true
                break
            }
            guard closed else { throw UnterminatedQuote(column: Int(column)) }
            if !escaped {
                tokens.append(Token(start: Int32(s), count: Int32(i - s), column: column, quoted: true, inScratch: false,
                                    hash: wordHash(dump + s, i - s)))
            } else {
                let first = used
                var k = s
                while k < i {
                    if dump[k] == UInt8(ascii: "\\") && k + 1 < i { k += 1 }
                    scratch[used] = dump[k]
                    used += 1
                    k += 1
                }
                // The hash reads up to 8 bytes past the word: keep them zero, as in the dump.
                for z in 0..<wordPadding { scratch[used + z] = 0 }
                tokens.append(Token(start: Int32(first), count: Int32(used - first), column: column, quoted: true, inScratch: true,
                                    hash: wordHash(scratch + first, used - first)))
            }
            i += 1
        } else {
            let s = i
            i = unquotedWordEnd(dump, from: s, to: end)
            tokens.append(Token(start: Int32(s), count: Int32(i - s), column: column, quoted: false, inScratch: false,
                                hash: wordHash(dump + s, i - s)))
        }
    }
}

/// An open-addressing table from byte strings of the dump to values: chain names to chain
/// indices, words to their interned `String`. Keys are ranges of the dump buffer (compared with
/// memcmp), hashed with `wordHash`. Not shared between threads.
struct DumpWordTable<Value> {
    private struct Entry {
        var hash: UInt64
        var start: Int32
        var count: Int32
        var value: Value
    }
    private var slots: [Int32]
    private var entries: [Entry] = []
    private var mask: Int

    init(capacity: Int = 64) {
        var n = 16
        while n < capacity * 2 { n <<= 1 }
        slots = [Int32](repeating: -1, count: n)
        mask = n - 1
    }

    var count: Int { entries.count }

    /// The value stored for the `count` bytes at `key` (which hash to `hash`); keys are ranges of `dump`.
    @inline(__always) func find(_ key: UnsafePointer<UInt8>, count: Int, hash: UInt64, in dump: UnsafePointer<UInt8>) -> Value? {
        var s = Int(truncatingIfNeeded: hash) & mask
        while true {
            let e = Int(slots[s])
            if e < 0 { return nil }
            let entry = entries[e]
            if entry.hash == hash && Int(entry.count) == count && memcmp(dump + Int(entry.start), key, count) == 0 {
                return entry.value
            }
            s = (s + 1) & mask
        }
    }

    /// Adds a key that `find` did not find.
    mutating func insert(start: Int, count: Int, hash: UInt64, value: Value) {
        if (entries.count + 1) * 2 > slots.count { grow() }
        var s = Int(truncatingIfNeeded: hash) & mask
        while slots[s] >= 0 { s = (s + 1) & mask }
        slots[s] = Int32(entries.count)
        entries.append(Entry(hash: hash, start: Int32(start), count: Int32(count), value: value))
    }

    private mutating func grow() {
        let n = slots.count * 2
        slots = [Int32](repeating: -1, count: n)
        mask = n - 1
        for (i, e) in entries.enumerated() {
            var s = Int(truncatingIfNeeded: e.hash) & mask
            while slots[s] >= 0 { s = (s + 1) & mask }
            slots[s] = Int32(i)
        }
    }
}

/// One `String` per distinct word of a dump: Neutron repeats the same comments, modules and
/// interface names on every port's rules, so each is decoded and allocated once.
struct WordInterner {
    private var table = DumpWordTable<String>(capacity: 1024)

    /// The string of a word of the dump (not of the scratch buffer).
    @inline(__always) mutating func string(_ dump: UnsafePointer<UInt8>, start: Int, count: Int, hash: UInt64) -> String {
        if let s = table.find(dump + start, count: count, hash: hash, in: dump) { return s }
        let s = String(decoding: UnsafeBufferPointer(start: dump + start, count: count), as: UTF8.self)
        table.insert(start: start, count: count, hash: hash, value: s)
        return s
    }

    /// The string of a token: interned when it is a range of the dump, decoded when unescaped.
    @inline(__always) mutating func string(_ t: Token, _ line: LineBytes) -> String {
        if t.inScratch { return line.string(t) }
        return string(line.dump, start: Int(t.start), count: Int(t.count), hash: t.hash)
    }
}
