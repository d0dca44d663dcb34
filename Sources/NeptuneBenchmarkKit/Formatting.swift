/// Formats a number with a fixed count of decimals (`formatFixed(3.14159, decimals: 3)` is `"3.142"`), without
/// Foundation.
func formatFixed(_ value: Double, decimals: Int) -> String {
    guard value.isFinite, abs(value) < 1e15 else {
        return "\(value)"
    }
    var scale: UInt64 = 1
    for _ in 0..<decimals {
        scale *= 10
    }
    let scaled = UInt64((abs(value) * Double(scale)).rounded())
    let sign = value < 0 && scaled > 0 ? "-" : ""
    let whole = "\(scaled / scale)"
    guard decimals > 0 else {
        return sign + whole
    }
    let fraction = "\(scaled % scale)"
    return sign + whole + "." + String(repeating: "0", count: decimals - fraction.count) + fraction
}

/// Rounds to a count of decimals for machine output (so JSON shows `0.231`, not `0.23100000000000001`).
func rounded(_ value: Double, decimals: Int) -> Double {
    var scale = 1.0
    for _ in 0..<decimals {
        scale *= 10
    }
    return (value * scale).rounded() / scale
}

func padLeft(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

func padRight(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
