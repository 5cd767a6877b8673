import AsyncHTTPClient
import JWTKit
public enum AgentStub {}
