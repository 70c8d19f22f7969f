from pyservices.websocket import main

main.main()
