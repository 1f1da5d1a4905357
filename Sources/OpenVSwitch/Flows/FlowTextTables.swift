/// Strings made from dump bytes, reused when the same bytes come again. A dump repeats most of its
/// texts (`priority=70`, `ct_state=+new-est`, `resubmit(,93)`, `, `); handing back the String made
/// the first time skips the UTF-8 check and the allocation. Direct-mapped: a miss replaces the slot.
///
/// Owned by one parse of one buffer (`base` must outlive it); not for sharing between threads.
final class TextInterner {
    private struct Slot {
        var hash: UInt64 = 0
        var start = 0
        var count = -1
        var text = ""
    }
    /// Manually allocated so that lookups pay no exclusivity or uniqueness checks.
    private let slots: UnsafeMutablePointer<Slot>
    private let base: UnsafeBufferPointer<UInt8>
    private static let slotCount = 8192
    /// Longer texts are mostly unique (whole `duration=` headers, long learn actions): not worth hashing.
    private static let longest = 48

    init(base: UnsafeBufferPointer<UInt8>) {
        self.base = base
        slots = .allocate(capacity: Self.slotCount)
        slots.initialize(repeating: Slot(), count: Self.slotCount)
    }
    deinit {
        slots.deinitialize(count: Self.slotCount)
        slots.deallocate()
    }

    /// The text of `base[r]`, the same String as last time when these bytes were seen before.
    func text(_ r: Range<Int>) -> String {
        let n = r.count
        guard n <= Self.longest, let p = base.baseAddress else { return String(decoding: UnsafeBufferPointer(rebasing: base[r]), as: UTF8.self) }
        let h = Self.hash(p + r.lowerBound, n)
        let slot = slots + (Int(truncatingIfNeeded: h) & (Self.slotCount - 1))
        if slot.pointee.hash == h && slot.pointee.count == n {
            let a = p + slot.pointee.start, b = p + r.lowerBound
            var k = 0
            while k < n && a[k] == b[k] { k += 1 }
            if k == n { return slot.pointee.text }
        }
        let made = String(decoding: UnsafeBufferPointer(start: p + r.lowerBound, count: n), as: UTF8.self)
        slot.pointee = Slot(hash: h, start: r.lowerBound, count: n, text: made)
        return made
    }

    /// A multiply-and-fold hash over eight bytes at a time.
    @inline(__always) static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        var h = UInt64(n) &* 0x9E37_79B9_7F4A_7C15
        var k = 0
        let raw = UnsafeRawPointer(p)
        while k + 8 <= n {
            h = (h ^ raw.loadUnaligned(fromByteOffset: k, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 32
            k += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while k < n { tail |= UInt64(p[k]) << shift; shift += 8; k += 1 }
        h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        return h ^ (h >> 29)
    }
}

/// Words looked up by their bytes without making a String: field names, header keys, action
/// names. Open addressing on an FNV-1a hash; keys are compared byte for byte.
struct ByteKeyTable<Value: Sendable>: Sendable {
    private var keys: [[UInt8]?]
    private var values: [Value?]
    private let mask: Int

    init(_ pairs: [(String, Value)]) {
        var size = 16
        while size < pairs.count * 4 { size *= 2 }
        mask = size - 1
        keys = Array(repeating: nil, count: size)
        values = Array(repeating: nil, count: size)
        for (k, v) in pairs {
            let bytes = Array(k.utf8)
            var i = Self.hash(bytes[...]) & mask
            while let existing = keys[i] {
                if existing == bytes { break }
                i = (i + 1) & mask
            }
            if keys[i] == nil { keys[i] = bytes; values[i] = v }
        }
    }

    static func hash<C: Collection>(_ bytes: C) -> Int where C.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 31))
    }

    /// The value stored for exactly the bytes `bytes[r]`, or nil.
    func lookup(_ bytes: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Value? {
        let slice = UnsafeBufferPointer(rebasing: bytes[r])
        var i = Self.hash(slice) & mask
        while let k = keys[i] {
            if k.count == slice.count && k.withUnsafeBufferPointer({ kb in
                for j in 0..<kb.count where kb[j] != slice[j] { return false }
                return true
            }) { return values[i] }
            i = (i + 1) & mask
        }
        return nil
    }
}
