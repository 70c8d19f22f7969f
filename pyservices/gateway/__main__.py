from pyservices.gateway import main

main.main()
