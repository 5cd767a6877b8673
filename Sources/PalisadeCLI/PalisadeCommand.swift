import ArgumentParser
import PalisadeServer
import PalisadeAgent
@main struct Main { static func main() {} }
