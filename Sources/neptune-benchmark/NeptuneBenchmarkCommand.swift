@main
struct NeptuneBenchmarkCommand {
    static func main() {}
}
