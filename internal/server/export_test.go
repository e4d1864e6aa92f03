package server

import "github.com/sluicehq/sluice/internal/connector"

// ConnOf gives tests the connector of a destination in force, to check
// what happens to it after a reload retires it.
func ConnOf(s *Server, name string) connector.Connector { return s.gen.Load().conns[name] }
