// The tableflip contender of make bench (bench/compare.c): Go's
// github.com/cloudflare/tableflip used as its documentation shows
// (http_example_test.go, "Example_httpShutdown"), serving what every
// contender serves, "generation=N pid=P".
//
// SIGHUP upgrades: tableflip starts a new copy of this binary with the
// listening socket, waits for its Ready(), and the old one then drains
// with net/http's Shutdown. GENERATION counts the copies: each sets it one
// higher in its environment just before upgrading, and tableflip passes the
// environment on.
//
// Built by the benchmark with Debian's golang-go and
// golang-github-cloudflare-tableflip-dev (GOPATH=/usr/share/gocode).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	drain := flag.Duration("drain-timeout", 10*time.Second, "longest drain")
	flag.Parse()
	log.SetPrefix(fmt.Sprintf("tableflip[%d] ", os.Getpid()))

	generation, _ := strconv.Atoi(os.Getenv("GENERATION"))
	if generation < 1 {
		generation = 1
	}
	upg, err := tableflip.New(tableflip.Options{})
	if err != nil {
		log.Fatalln("tableflip.New:", err)
	}
	defer upg.Stop()

	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGHUP)
		for range sig {
			os.Setenv("GENERATION", strconv.Itoa(generation+1))
			if err := upg.Upgrade(); err != nil {
				log.Println("upgrade failed:", err)
			}
		}
	}()

	ln, err := upg.Listen("tcp", *listen)
	if err != nil {
		log.Fatalln("listen:", err)
	}
	body := fmt.Sprintf("generation=%d pid=%d\n", generation, os.Getpid())
	server := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, body)
	})}
	go func() {
		if err := server.Serve(ln); err != http.ErrServerClosed {
			log.Println("serve:", err)
		}
	}()
	if err := upg.Ready(); err != nil {
		log.Fatalln("ready:", err)
	}
	log.Printf("ready, generation %d", generation)
	<-upg.Exit()

	ctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	server.Shutdown(ctx)
}
