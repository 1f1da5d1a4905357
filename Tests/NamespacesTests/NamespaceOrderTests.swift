@testable import Namespaces
import Testing

@Suite struct NamespaceOrderTests {
    @Test func numbersReadByValueAndLettersRegardlessOfCase() {
        let names = ["ns10", "ns2", "NS1", "ns1", "qrouter-b", "qdhcp-a", "ns02", "ns", "n10x", "n9x"]
        #expect(names.sorted(by: NamespaceDiscovery.readsBefore)
                == ["n9x", "n10x", "ns", "NS1", "ns1", "ns02", "ns2", "ns10", "qdhcp-a", "qrouter-b"])
    }

    @Test func orderIsTotalAndStrict() {
        let names = ["a1", "a01", "A1", "a001", "a1b", "a"]
        for x in names {
            #expect(!NamespaceDiscovery.readsBefore(x, x))
            for y in names where x != y {
                #expect(NamespaceDiscovery.readsBefore(x, y) != NamespaceDiscovery.readsBefore(y, x), "\(x) vs \(y)")
            }
        }
    }
}
