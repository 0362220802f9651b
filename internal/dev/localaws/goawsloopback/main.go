// Command goawsloopback is goaws (github.com/Admiral-Piett/goaws, v0.5.4,
// pinned in go.mod) listening on 127.0.0.1 only. It is what package localaws
// runs as the local SQS, through `go tool goawsloopback` (a tool directive of
// go.mod), never a deployed function.
//
// Why: goaws's own command (app/cmd) always listens on 0.0.0.0: its yaml
// Host setting only goes into queue URLs, and it has no bind-address flag.
// goaws has no authentication either, so from any host that can reach the
// machine an unsigned SendMessage would put an event on the queue and the
// worker would open a ConnectWise ticket for it. This command is goaws's
// main with the listen address changed: the same packages (conf, router,
// gosqs), the same flags (-config, -debug, -loglevel) and the same
// environment argument (default "Local"), bound to the loopback interface.
package main

import (
	"flag"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/Admiral-Piett/goaws/app/conf"
	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/router"
	log "github.com/sirupsen/logrus"
)

// listenHost is the only address goaws listens on.
const listenHost = "127.0.0.1"

func main() {
	var filename, loglevel string
	var debug bool
	flag.StringVar(&filename, "config", "", "config file location + name")
	flag.BoolVar(&debug, "debug", false, "set debug log level")
	flag.StringVar(&loglevel, "loglevel", "info", "log level (default info)")
	flag.Parse()

	log.SetFormatter(&log.JSONFormatter{})
	log.SetOutput(os.Stdout)
	if debug {
		log.SetLevel(log.DebugLevel)
	} else if level, err := log.ParseLevel(loglevel); err != nil {
		log.SetLevel(log.InfoLevel)
		log.Warnf("Failed to parse loglevel %v, defaulting to info", loglevel)
	} else {
		log.SetLevel(level)
	}

	env := "Local"
	if flag.NArg() > 0 {
		env = flag.Arg(0)
	}
	// One port (SQS and SNS together) or two (SQS, SNS), as goaws reads them.
	ports := conf.LoadYamlConfig(filename, env)
	if len(ports) < 1 || len(ports) > 2 {
		log.Fatal("Not enough or too many ports defined to start GoAws.")
	}

	handler := router.New()
	go gosqs.PeriodicTasks(1*time.Second, make(chan bool))

	// Listen on every port before serving any, so that a port already taken
	// ends the process at once (localaws then retries on another port).
	var listeners []net.Listener
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort(listenHost, p))
		if err != nil {
			log.Fatal(err)
		}
		log.Warnf("GoAws listening on: %s", l.Addr())
		listeners = append(listeners, l)
	}
	errs := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { errs <- http.Serve(l, handler) }()
	}
	log.Fatal(<-errs)
}
