@main
struct NeptuneServerCommand {
    static func main() {}
}
